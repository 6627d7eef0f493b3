namespace AspireRetry.OpenAIEmulator;

/// <summary>
/// Who is calling, so scripts, buckets and stats can be kept apart: the <c>x-emulator-caller</c>
/// header, else the <c>emulator.caller</c> item of W3C <c>baggage</c>, which OpenTelemetry carries
/// through every service a test's request passes on its way here.
/// </summary>
public static class CallerKey
{
    public const string HeaderName = "x-emulator-caller";
    public const string BaggageKey = "emulator.caller";

    public static string? From(HttpRequest request)
    {
        var header = request.Headers[HeaderName].FirstOrDefault()?.Trim();
        if (!string.IsNullOrEmpty(header))
        {
            return header;
        }

        foreach (var baggage in request.Headers["baggage"])
        {
            if (FromBaggage(baggage) is { } caller)
            {
                return caller;
            }
        }

        return null;
    }

    /// <summary>Finds <c>emulator.caller</c> in a baggage header: <c>k=v;prop,k2=v2</c>, values URL-encoded.</summary>
    public static string? FromBaggage(string? baggage)
    {
        foreach (var item in (baggage ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var member = item.Split(';', 2)[0];
            var equals = member.IndexOf('=');
            if (equals > 0 && member[..equals].Trim() == BaggageKey)
            {
                var value = Uri.UnescapeDataString(member[(equals + 1)..].Trim());
                return value.Length > 0 ? value : null;
            }
        }

        return null;
    }
}
