using System.Globalization;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>The gate's state in words, for span events and errors.</summary>
internal sealed partial class RateLimitGate
{
    /// <summary>A short description of the gate's state, for span events and errors.</summary>
    public string Describe()
    {
        lock (_lock)
        {
            var now = Now;
            if (_closing.IsClosed(now))
            {
                return $"closed for {TimeSpans.Ms(_closing.OpenAt - now)} ms";
            }

            return ModeLocked switch
            {
                GateMode.Published when _bucket.RatePerMs is { } rate => DescribePacingLocked(now, rate),
                GateMode.Probing => "probing for the limits",
                GateMode.SlowStart => $"open (limits not published; slow start: {_window.Describe()})",
                _ when _closing.LearnedInterval is { } interval => $"open (limits not published; one request every {TimeSpans.Ms(interval)} ms learned from 429s)",
                _ => "open (limits not published)",
            };
        }
    }

    private string DescribePacingLocked(TimeSpan now, double rate)
    {
        var usable = _bucket.UsableAt(now, rate);
        var tokens = _tokens.Known
            ? $"; {Math.Max(0, Math.Floor(_tokens.UsableAt(now))).ToString(CultureInfo.InvariantCulture)} of {_tokens.Limit} tokens usable"
            : "";
        return usable < 1
            ? $"pacing at one request every {TimeSpans.Ms(TimeSpan.FromMilliseconds(1 / rate))} ms{tokens}"
            : $"open ({Math.Floor(usable).ToString(CultureInfo.InvariantCulture)} of {_bucket.Limit} requests before pacing{tokens})";
    }
}
