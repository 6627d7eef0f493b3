namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>
/// The probabilistic fault profile (JSON camelCase at <c>/emulator/chaos</c>, or configuration
/// <c>Emulator:Chaos</c>). Each request rolls once: every probability is a slice of [0, 1), so
/// their sum may not exceed 1; what is left over is a clean response.
/// </summary>
public sealed record ChaosProfile
{
    /// <summary>A label for the scenario, shown back by GET.</summary>
    public string? Name { get; init; }

    /// <summary>429 <c>rate_limit_exceeded</c> with <c>retry-after</c> and <c>retry-after-ms</c>.</summary>
    public double RateLimit { get; init; }

    /// <summary>429 <c>insufficient_quota</c> (not retryable, no Retry-After).</summary>
    public double InsufficientQuota { get; init; }

    public double ServerError500 { get; init; }

    public double BadGateway502 { get; init; }

    /// <summary>503, with Retry-After when <see cref="RetryAfterMs"/> is above 0.</summary>
    public double ServiceUnavailable503 { get; init; }

    public double GatewayTimeout504 { get; init; }

    /// <summary>The connection is aborted with no response.</summary>
    public double Reset { get; init; }

    /// <summary>No response for <see cref="HangMs"/>, then the connection is aborted.</summary>
    public double Hang { get; init; }

    /// <summary>The first token waits <see cref="SlowFirstTokenMs"/>.</summary>
    public double SlowFirstToken { get; init; }

    /// <summary>Tokens arrive at <see cref="SlowTokensPerSecond"/>.</summary>
    public double SlowStream { get; init; }

    /// <summary>A stream is cut after <see cref="DisconnectAfterChunks"/> chunks (a plain request is reset).</summary>
    public double MidStreamDisconnect { get; init; }

    /// <summary>The wait that 429s and 503s advise.</summary>
    public int RetryAfterMs { get; init; } = 1000;

    /// <summary>
    /// The headers that carry a 429's or 503's wait, from <see cref="RetryAdvice.HeaderForms"/>: <c>retry-after-ms</c>,
    /// <c>retry-after</c> (seconds), Azure's <c>x-ms-retry-after-ms</c>. Null sends OpenAI's pair (<c>retry-after-ms</c> and
    /// <c>retry-after</c>); empty sends none. A scripted outcome's own retry options replace it for that request.
    /// </summary>
    public IReadOnlyList<string>? RetryAfterHeaders { get; init; }

    /// <summary>How long a hang lasts before the connection is aborted: longer than any sane client timeout.</summary>
    public int HangMs { get; init; } = 300_000;

    public int SlowFirstTokenMs { get; init; } = 5_000;

    public double SlowTokensPerSecond { get; init; } = 2;

    public int DisconnectAfterChunks { get; init; } = 3;

    /// <summary>Streaming pace; null uses <c>Emulator:TokensPerSecond</c>. 0 sends tokens without delay.</summary>
    public double? TokensPerSecond { get; init; }

    /// <summary>Delay before the first token; null uses <c>Emulator:FirstTokenDelayMs</c>.</summary>
    public int? FirstTokenDelayMs { get; init; }

    /// <summary>Token-bucket rate limiting (requests and tokens per window).</summary>
    public RateLimitBucketSettings RateLimiter { get; init; } = new();

    /// <summary>A calm profile: no faults, default pacing, no rate limiting.</summary>
    public static ChaosProfile Calm { get; } = new();

    /// <summary>The rolled faults in roll order, with the property each probability comes from.</summary>
    public IEnumerable<(string Field, double Probability, Fault Fault)> Probabilities()
    {
        yield return ("rateLimit", RateLimit, Fault.RateLimit);
        yield return ("insufficientQuota", InsufficientQuota, Fault.InsufficientQuota);
        yield return ("serverError500", ServerError500, Fault.ServerError);
        yield return ("badGateway502", BadGateway502, Fault.BadGateway);
        yield return ("serviceUnavailable503", ServiceUnavailable503, Fault.ServiceUnavailable);
        yield return ("gatewayTimeout504", GatewayTimeout504, Fault.GatewayTimeout);
        yield return ("reset", Reset, Fault.Reset);
        yield return ("hang", Hang, Fault.Hang);
        yield return ("slowFirstToken", SlowFirstToken, Fault.SlowFirstToken);
        yield return ("slowStream", SlowStream, Fault.SlowStream);
        yield return ("midStreamDisconnect", MidStreamDisconnect, Fault.MidStreamDisconnect);
    }
}

/// <summary>
/// Token buckets that refill continuously: each holds <c>PerWindow</c> and regains
/// <c>PerWindow / WindowMs</c> per millisecond. Defaults mirror a small OpenAI tier (500 RPM, 30k TPM).
/// </summary>
public sealed record RateLimitBucketSettings
{
    public bool Enabled { get; init; }

    public int RequestsPerWindow { get; init; } = 500;

    public int TokensPerWindow { get; init; } = 30_000;

    /// <summary>A minute, as OpenAI's limits are per minute; tests shorten it to milliseconds.</summary>
    public int WindowMs { get; init; } = 60_000;

    /// <summary>
    /// False sends no <c>x-ratelimit-*</c> headers (the buckets still decide): an OpenAI-compatible upstream
    /// that does not publish its limits, whose clients learn them only from 429s and their waits.
    /// </summary>
    public bool PublishHeaders { get; init; } = true;

    /// <summary>
    /// True sends only <c>x-ratelimit-remaining-requests</c> and <c>-tokens</c>, without the <c>-limit-</c> and <c>-reset-</c>
    /// headers, as Azure OpenAI does: clients can pace on what is left but must learn the limit and the refill elsewhere.
    /// </summary>
    public bool RemainingHeadersOnly { get; init; }

    public RateLimitHeaderStyle HeaderStyle =>
        !PublishHeaders ? RateLimitHeaderStyle.None : RemainingHeadersOnly ? RateLimitHeaderStyle.RemainingOnly : RateLimitHeaderStyle.Full;
}

/// <summary>Which <c>x-ratelimit-*</c> headers responses carry: OpenAI's six, Azure's two remaining counts, or none.</summary>
public enum RateLimitHeaderStyle
{
    Full,
    RemainingOnly,
    None,
}
