namespace AspireRetry.Contracts;

/// <summary>
/// An upstream scenario a person can pick: in the chat page's chaos panel, or (some of them) as a button
/// on the emulator's row in the dashboard. <see cref="Profile"/> is the emulator's chaos profile (it applies
/// to every caller of the emulator); <see cref="PerMessage"/>, when set, is queued as a script for the
/// page's own messages before each send, for scenarios that must play out the same way every time.
/// With several upstreams (emulators), a scenario's profile applies to every one of them unless it is
/// <see cref="PrimaryOnly"/>: then only the primary misbehaves and the others are calm.
/// </summary>
public sealed record ChaosScenario(string Name, string Description, IReadOnlyDictionary<string, object>? Profile, IReadOnlyList<string>? PerMessage = null, bool PrimaryOnly = false)
{
    public static readonly ChaosScenario Calm = new("Calm", "Every request succeeds.", null);

    public static readonly ChaosScenario Flaky = new("Flaky 30%", "3 requests in 10 fail at random: 500, 502, 503 (Retry-After 0.5 s) or a reset connection.",
        new Dictionary<string, object>
        {
            ["serverError500"] = 0.1, ["badGateway502"] = 0.05, ["serviceUnavailable503"] = 0.1, ["reset"] = 0.05, ["retryAfterMs"] = 500,
        });

    public static readonly ChaosScenario Outage = new("Outage", "Every request gets 503 with Retry-After 1 s: a message's 5 attempts fail, then the upstream counts as down and the next messages wait for it to recover, one check at a time. Pick Calm to end it.",
        new Dictionary<string, object> { ["serviceUnavailable503"] = 1.0, ["retryAfterMs"] = 1000 });

    /// <summary>
    /// The scenario's name as an identifier ("Flaky 30%" is <c>flaky-30</c>): lower case, letters and digits, one dash
    /// between words. The dashboard's chaos commands are named from it.
    /// </summary>
    public string Id => System.Text.RegularExpressions.Regex.Replace(Name.ToLowerInvariant(), "[^a-z0-9]+", "-").Trim('-');

    /// <summary>The scenarios of the chaos panel, in the order it lists them. Field names are the emulator's profile fields.</summary>
    public static IReadOnlyList<ChaosScenario> All { get; } =
    [
        Calm,
        Flaky,
        new("Rate limited", "Each message from this page is rate limited twice (429 with retry-after-ms 1.2 s, then 0.8 s), then answered.",
            new Dictionary<string, object>(),
            ["429:retry-after-ms=1200", "429:retry-after-ms=800", "ok"]),
        Outage,
        new("Slow stream", "Replies stream at 3 tokens a second: time to try Stop.",
            new Dictionary<string, object> { ["slowStream"] = 1.0, ["slowTokensPerSecond"] = 3 }),
        new("Broken stream", "The connection is cut after 6 chunks of every reply; a started stream is never re-sent.",
            new Dictionary<string, object> { ["midStreamDisconnect"] = 1.0, ["disconnectAfterChunks"] = 6 }),
        new("Quota exhausted", "Every request gets 429 insufficient_quota: not retried, because waiting does not help.",
            new Dictionary<string, object> { ["insufficientQuota"] = 1.0 }),
    ];

    /// <summary>The scenarios that need a second upstream: the primary misbehaves, the others stay calm.</summary>
    public static IReadOnlyList<ChaosScenario> Failover { get; } =
    [
        new("Primary down", "The primary upstream answers every request with 503; the secondary is healthy. Each message goes to the secondary without a wait; pick Calm and traffic returns to the primary within one check of its recovery.",
            new Dictionary<string, object> { ["serviceUnavailable503"] = 1.0, ["retryAfterMs"] = 1000 }, PrimaryOnly: true),
        new("Primary rate limited", "The primary upstream answers every request with 429 rate_limit_exceeded (retry-after 10 s); messages go to the secondary instead of waiting.",
            new Dictionary<string, object> { ["rateLimit"] = 1.0, ["retryAfterMs"] = 10000 }, PrimaryOnly: true),
        new("Primary out of quota", "The primary upstream answers 429 insufficient_quota: each message goes to the secondary, and is never retried on the primary.",
            new Dictionary<string, object> { ["insufficientQuota"] = 1.0 }, PrimaryOnly: true),
    ];

    /// <summary>The chaos panel's scenarios for an app with this many emulators: the failover ones only from two on.</summary>
    public static IReadOnlyList<ChaosScenario> For(int emulators) => emulators >= 2 ? [.. All, .. Failover] : All;

    public static ChaosScenario? Find(string? name) => All.Concat(Failover).FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.Ordinal));

    /// <summary>
    /// The body of <c>PUT /emulator/chaos</c> for this scenario: its profile, named after it, so the
    /// emulator's <c>GET /emulator/chaos</c> tells which scenario is on.
    /// </summary>
    public IReadOnlyDictionary<string, object> ProfileBody()
    {
        var body = new Dictionary<string, object> { ["name"] = Name };
        foreach (var (field, value) in Profile ?? new Dictionary<string, object>())
        {
            body[field] = value;
        }

        return body;
    }
}
