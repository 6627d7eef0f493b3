using System.Globalization;

namespace AspireRetry.Contracts;

/// <summary>
/// The OpenAI emulators the AppHost starts (<c>AppHost:Upstreams</c>, in priority order) under the names the chat page
/// finds them by through service discovery: <c>openai-emulator</c>, <c>openai-emulator-2</c>, ...
/// </summary>
public static class EmulatorNames
{
    /// <summary>The first (primary) emulator.</summary>
    public const string First = "openai-emulator";

    /// <summary>More emulators than this is a typo, not a demo: each is a process on the developer's machine.</summary>
    public const int Max = 5;

    /// <summary>The emulator at <paramref name="position"/> (1 for the first).</summary>
    public static string At(int position) =>
        position == 1 ? First : $"{First}-{position.ToString(CultureInfo.InvariantCulture)}";
}
