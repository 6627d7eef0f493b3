using AspireRetry.Bench.Measuring;
using AspireRetry.Bench.Strategies;
using AspireRetry.Bench.Upstream;

namespace AspireRetry.Bench.Scenarios;

/// <summary>
/// One way the upstream misbehaves, in scenario seconds (the run's <see cref="TimeScale"/> makes them real).
/// A scenario sets the emulator up, makes its calls through one strategy and says what each call
/// ideally would have cost.
/// </summary>
public abstract class Scenario
{
    public abstract string Id { get; }

    public abstract string Title { get; }

    /// <summary>What the upstream does and what the ideal client does, for the report.</summary>
    public abstract string Setup { get; }

    /// <summary>False where the right outcome is a failure (exhausted quota): the ideal is then to fail at once.</summary>
    public virtual bool SuccessExpected => true;

    /// <summary>How many upstreams (emulators) each strategy gets, in priority order: one, except for the failover.</summary>
    public virtual int Upstreams => 1;

    /// <summary>True where the upstream is down for a while, so requests that reached it then are counted.</summary>
    public virtual bool HasOutage => false;

    /// <summary>
    /// The emulator's chaos profile for the strategy's warm-up call (set before it; <see cref="RunAsync"/> sets its own
    /// after). Null keeps the emulator's start-up profile, which publishes <c>x-ratelimit-*</c> headers: a scenario whose
    /// upstream never publishes them must not let the warm-up teach a client the start-up limits.
    /// </summary>
    public virtual object? WarmUpProfile(TimeScale scale) => null;

    /// <summary>True where the scenario makes embeddings calls too: the warm-up then makes one of those as well.</summary>
    public virtual bool Embeds => false;

    /// <summary>
    /// Rounds of warm-up calls. A scenario whose warm-up upstream publishes token limits (the emulator's start-up profile
    /// does) takes two: a client that learns them from the first round counts the second's tokens, so what it loads to
    /// count them (a tokenizer's vocabulary, some tenths of a second) is loaded before the scenario's clock starts, as any
    /// other first-use cost. With one round, AspireRetry's first measured call waited 140-180 ms for that load.
    /// </summary>
    public virtual int WarmUpRounds => 2;

    public abstract Task<IReadOnlyList<CallRecord>> RunAsync(ScenarioRun run, CancellationToken cancellationToken);

    public static IReadOnlyList<Scenario> All { get; } =
    [
        new RateLimited(),
        new TransientErrors(),
        new Outage(),
        new SlowCompletions(),
        new QuotaExhausted(),
        new RetryStorm(),
        new Failover(),
        new TokenLimited(),
    ];

    /// <summary>Waits until <paramref name="atMs"/> on the run's clock (at once when that has passed).</summary>
    protected static Task DelayUntilAsync(ScenarioRun run, double atMs, CancellationToken cancellationToken)
    {
        var wait = atMs - run.Clock.NowMs;
        return wait > 0 ? Task.Delay(TimeSpan.FromMilliseconds(wait), cancellationToken) : Task.CompletedTask;
    }

    /// <summary>Runs <paramref name="count"/> calls with at most <paramref name="concurrency"/> at once.</summary>
    protected static async Task<IReadOnlyList<CallRecord>> RunCallsAsync(
        ScenarioRun run, int count, int concurrency, Func<int, string> caller, CancellationToken cancellationToken)
    {
        var records = new CallRecord[count];
        var next = -1;
        var workers = Enumerable.Range(0, Math.Min(count, concurrency)).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                records[i] = await run.CallAsync(caller(i), cancellationToken);
            }
        });
        await Task.WhenAll(workers);
        return records;
    }
}

/// <summary>One scenario against one strategy, on that strategy's own emulators (the first is its primary upstream).</summary>
public sealed class ScenarioRun(IReadOnlyList<EmulatorHost> emulators, IStrategy strategy, TimeScale scale, Calibration calibration, bool quick,
    Func<Task<IStrategy>> newClient)
{
    public const string Prompt = "In one sentence: why should a client honour Retry-After?";

    /// <summary>The (primary) upstream.</summary>
    public EmulatorHost Emulator => Emulators[0];

    /// <summary>Every upstream, in priority order (<see cref="Scenario.Upstreams"/> of them).</summary>
    public IReadOnlyList<EmulatorHost> Emulators { get; } = emulators;

    public TimeScale Scale { get; } = scale;

    public Calibration Calibration { get; } = calibration;

    /// <summary>Fewer calls, for the CI smoke check.</summary>
    public bool Quick { get; } = quick;

    public RunClock Clock { get; } = new();

    /// <summary>Set by a scenario that counts the tokens its buckets admitted: the span it measures and what they allowed then.</summary>
    public TokenAccount? Tokens { get; set; }

    public Task<CallRecord> CallAsync(string caller, CancellationToken cancellationToken) =>
        new CallRecord(caller, Clock).RunAsync(ct => strategy.ChatAsync(Prompt, ct), cancellationToken);

    /// <summary>A chat call with its own prompt, whose answer's tokens are counted (<see cref="Attempt.Tokens"/>).</summary>
    public Task<CallRecord> ChatAsync(string caller, string prompt, CancellationToken cancellationToken) =>
        new CallRecord(caller, Clock, countsTokens: true).RunAsync(ct => strategy.ChatAsync(prompt, ct), cancellationToken);

    /// <summary>An embeddings call for <paramref name="inputs"/>, whose answers' tokens are counted (<see cref="Attempt.Tokens"/>).</summary>
    public Task<CallRecord> EmbedAsync(string caller, IReadOnlyList<string> inputs, CancellationToken cancellationToken) =>
        new CallRecord(caller, Clock, countsTokens: true).RunAsync(ct => strategy.EmbedAsync(inputs, ct), cancellationToken);

    /// <summary>
    /// A call from a client of its own (its own key at the upstream, its own process): a fresh strategy
    /// instance, built before the call's clock starts. Per-caller rate limits model separate clients, and
    /// a client that shares what it learns across its calls (AspireRetry's gate) must not be handed the
    /// limits of other clients as if they were its own. <paramref name="justBefore"/> runs once the client is built,
    /// right before the call: what the upstream's state should be as the call starts (a bucket just spent) does not
    /// then depend on how long each strategy takes to build its client.
    /// </summary>
    public async Task<CallRecord> CallAsOwnClientAsync(string caller, Func<CancellationToken, Task> justBefore, CancellationToken cancellationToken)
    {
        await using var client = await newClient();
        await justBefore(cancellationToken);
        return await new CallRecord(caller, Clock).RunAsync(ct => client.ChatAsync(Prompt, ct), cancellationToken);
    }
}

/// <summary>
/// The upstream's service time as measured on this machine: a clean call through a bare SDK client
/// (<see cref="ServiceMs"/>), of which <see cref="OverheadMs"/> is loopback, SDK and server work beyond the
/// emulator's configured first-token delay.
/// </summary>
public sealed record Calibration(double ServiceMs, double OverheadMs);
