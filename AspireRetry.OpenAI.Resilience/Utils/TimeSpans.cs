using System.Globalization;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// TimeSpan arithmetic and formats the gates, the recovery wait and their messages share. One copy: the emulator and
/// the bench link this file rather than write their own.
/// </summary>
internal static class TimeSpans
{
    public static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    public static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>Rounded up to a whole millisecond: timers count whole milliseconds, and a wait must not end before its time.</summary>
    public static TimeSpan CeilingMs(TimeSpan t) => TimeSpan.FromMilliseconds(Math.Ceiling(t.TotalMilliseconds));

    /// <summary>Whole milliseconds, rounded up: a wait shown as "300 ms" is never shorter than 300 ms.</summary>
    public static string Ms(TimeSpan t) => Math.Ceiling(t.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);

    /// <summary>Seconds to the millisecond, for messages: "1.2 s".</summary>
    public static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";
}
