namespace AspireRetry.Bench.Measuring;

/// <summary>
/// One upstream attempt as the client saw it at the socket side of every retry layer.
/// <see cref="RetryAfterMs"/> is the wait the response asked for (<c>retry-after-ms</c>, else <c>retry-after</c>);
/// <see cref="Tokens"/> the <c>usage.total_tokens</c> of a successful answer, when the call counts them.
/// </summary>
public sealed record Attempt(double SentMs, double ReceivedMs, int? Status, double? RetryAfterMs, string Outcome, long? Tokens = null);

/// <summary>
/// One call a user made through a strategy: when it started and ended, whether it got a reply, and every
/// upstream attempt it caused. It flows with the call (an AsyncLocal), so the innermost handler of any
/// strategy can record attempts whichever retry layer sent them.
/// </summary>
/// <param name="caller">The emulator caller key of every attempt.</param>
/// <param name="clock">The scenario's clock.</param>
/// <param name="countsTokens">Read the <c>usage</c> of every successful answer (buffering its body) into <see cref="Attempt.Tokens"/>.</param>
public sealed class CallRecord(string caller, RunClock clock, bool countsTokens = false)
{
    private static readonly AsyncLocal<CallRecord?> CurrentCall = new();
    private readonly Lock _gate = new();
    private readonly List<Attempt> _attempts = [];

    public static CallRecord? Current => CurrentCall.Value;

    /// <summary>The emulator caller key (<c>x-emulator-caller</c>) every attempt of this call carries.</summary>
    public string Caller { get; } = caller;

    public RunClock Clock { get; } = clock;

    /// <summary>Whether the recorder reads each successful answer's <c>usage.total_tokens</c>.</summary>
    public bool CountsTokens { get; } = countsTokens;

    public double StartMs { get; private set; }

    public double EndMs { get; private set; }

    public bool Succeeded { get; private set; }

    public string? Failure { get; private set; }

    /// <summary>The least time this call could have taken: the server-dictated waits plus service time. Set by the scenario.</summary>
    public double IdealMs { get; set; }

    public double LatencyMs => EndMs - StartMs;

    public IReadOnlyList<Attempt> Attempts
    {
        get
        {
            lock (_gate)
            {
                return [.. _attempts];
            }
        }
    }

    public void Add(Attempt attempt)
    {
        lock (_gate)
        {
            _attempts.Add(attempt);
        }
    }

    /// <summary>Runs <paramref name="call"/> as this call: times it and records its outcome.</summary>
    public async Task<CallRecord> RunAsync(Func<CancellationToken, Task<string?>> call, CancellationToken cancellationToken)
    {
        CurrentCall.Value = this;
        StartMs = Clock.NowMs;
        try
        {
            Failure = await call(cancellationToken).ConfigureAwait(false);
            Succeeded = Failure is null;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            Failure = Describe(ex);
        }
        finally
        {
            EndMs = Clock.NowMs;
            CurrentCall.Value = null;
        }

        return this;
    }

    private static string Describe(Exception ex)
    {
        var innermost = ex;
        while (innermost.InnerException is not null)
        {
            innermost = innermost.InnerException;
        }

        return innermost == ex ? ex.GetType().Name : $"{ex.GetType().Name} ({innermost.GetType().Name})";
    }
}
