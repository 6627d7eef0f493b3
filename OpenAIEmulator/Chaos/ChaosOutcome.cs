namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>
/// One outcome to apply to one request, either rolled from the profile or taken from a script.
/// Options left null fall back to the profile's values when the outcome is applied.
/// </summary>
/// <param name="Text">The outcome as written in the script (or the fault name when rolled).</param>
public sealed record ChaosOutcome(string Text, Fault Fault)
{
    public RetryAfterSpec? RetryAfter { get; init; }

    /// <summary><c>hang:ms=N</c> or <c>slow-first-token:ms=N</c>.</summary>
    public int? Milliseconds { get; init; }

    /// <summary><c>slow-stream:tps=N</c>.</summary>
    public double? TokensPerSecond { get; init; }

    /// <summary><c>disconnect:after=N</c>: data chunks written before the connection is cut.</summary>
    public int? AfterChunks { get; init; }

    /// <summary><c>503:should-retry=false</c>: the <c>x-should-retry</c> header an error response carries (null: none).</summary>
    public bool? ShouldRetry { get; init; }

    public static ChaosOutcome Rolled(Fault fault) => new(fault.ToFaultName(), fault);
}

/// <summary>
/// Which Retry-After headers a scripted 429/503 sends. Each option set sends only its own header,
/// so a client can be tested against exactly one form; <paramref name="XMsMilliseconds"/> is Azure's
/// <c>x-ms-retry-after-ms</c>.
/// </summary>
public sealed record RetryAfterSpec(int? Milliseconds, int? Seconds, int? DateSeconds, int? XMsMilliseconds = null);
