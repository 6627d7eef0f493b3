namespace AspireRetry.OpenAI.Resilience.Redis.Tests;

/// <summary>
/// What every scenario class shares: the store it runs on, an upstream, a model of its own and the replicas it starts.
/// Each scenario is written once, in an abstract class, and run by one concrete class per store.
/// </summary>
public abstract class Scenarios(StateStore store) : IAsyncDisposable
{
    /// <summary>Bounds the polls: a passing test sees what it waits for within a second or two.</summary>
    protected static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private readonly List<Replica> _replicas = [];

    protected StateStore Store => store;

    /// <summary>
    /// A model of the test's own: the state (in process and in Redis) is per upstream and model, so tests that share one
    /// redis-server never meet.
    /// </summary>
    protected string Model { get; } = $"gpt-4o-{Guid.NewGuid().ToString("N")[..8]}";

    protected FakeUpstream Upstream { get; set; } = new();

    /// <summary>
    /// Policy numbers for tests: exact waits (no jitter) of milliseconds. The store is given 5 s to answer instead of
    /// 250 ms: on a loaded 2-core machine a Redis answer can miss 250 ms, and the replica would then decide on its own state
    /// (the fallback, which the library's own tests cover); here every decision must be the store's.
    /// </summary>
    protected static Dictionary<string, string?> Settings(params (string Key, string Value)[] overrides)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:openai"] = "Endpoint=http://upstream.test/v1;Key=sk-test",
            ["OpenAI:Resilience:UseJitter"] = "false",
            ["OpenAI:Resilience:BaseDelay"] = "00:00:00.010",
            ["OpenAI:Resilience:MaxDelay"] = "00:00:00.100",
            ["OpenAI:Resilience:AttemptTimeout"] = "00:00:05",
            ["OpenAI:Resilience:TotalTimeout"] = "00:00:20",
            ["OpenAI:Resilience:SharedState:Timeout"] = "00:00:05",
        };
        foreach (var (key, value) in overrides)
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>
    /// No retries, so each call is one request and the upstream's log reads call by call: a retry budget that allows none.
    /// (MaxRetryAttempts 0 would say it directly, but Polly's retry refuses 0 when the pipeline is built.)
    /// </summary>
    protected static readonly (string Key, string Value)[] NoRetries =
    [
        ("OpenAI:Resilience:RateLimit:RetryBudget:Ratio", "0"),
        ("OpenAI:Resilience:RateLimit:RetryBudget:MinRetriesPerSecond", "0"),
    ];

    /// <summary>Two failures in a row mean down (a quarter of MinimumThroughput 8).</summary>
    protected static readonly (string Key, string Value) DownAfterTwoFailures = ("OpenAI:Resilience:CircuitBreaker:MinimumThroughput", "8");

    /// <summary>Starts a replica on the test's store and upstream; it is stopped when the test ends.</summary>
    protected async Task<Replica> ReplicaAsync(Dictionary<string, string?> settings, string name = "a")
    {
        var replica = await Replica.StartAsync(name, store, Upstream, settings);
        _replicas.Add(replica);
        return replica;
    }

    /// <summary>
    /// Starts a call that meets a 429, and returns once its replica has learned from it: the app hears of the failed attempt
    /// when its retry is scheduled, after the gate has taken the response in. (The upstream logs the 429 before it answers,
    /// so its log alone would let the next call start before the gate is closed.)
    /// </summary>
    protected static async Task<Task<CallOutcome>> MeetA429Async(Replica replica, string model)
    {
        var learned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var call = replica.ChatAsync(model, "meets the 429", report =>
        {
            if (report.StatusCode == 429)
            {
                learned.TrySetResult();
            }
        });
        if (await Task.WhenAny(learned.Task, call).WaitAsync(Bound, TestContext.Current.CancellationToken) == call)
        {
            Assert.Fail($"the call ended without a retry after the 429: {await call}");
        }

        return call;
    }

    /// <summary>The statuses the upstream answered, in the order it saw the requests.</summary>
    protected int[] Statuses() => [.. Upstream.Seen.Select(r => r.Status)];

    public async ValueTask DisposeAsync()
    {
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }
}
