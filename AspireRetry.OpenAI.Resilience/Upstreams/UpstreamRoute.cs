namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Where a call is going now: the upstream of this pass, and whether a later upstream of the list could take the
/// call if this one fails. The failover sets it on the call's <see cref="CallRoute"/> before each upstream; the
/// pipeline reads it to pick that upstream's pipeline (so its breaker, gate and budget) and to decide between waiting
/// and moving on.
/// </summary>
/// <param name="name">The upstream's name (its connection string's).</param>
/// <param name="canFailOver">Asked at each decision: the answer changes as the later upstreams go down and recover.</param>
internal sealed class UpstreamRoute(string name, Func<bool> canFailOver)
{
    /// <summary>The upstream's name (its connection string's).</summary>
    public string Name { get; } = name;

    /// <summary>
    /// Whether a later upstream can serve the call now. While it can, this upstream's pipeline neither retries a
    /// transient failure, nor waits for its own recovery, nor waits at its closed rate-limit gate: the call moves on.
    /// </summary>
    public bool CanFailOver => canFailOver();

    /// <summary>The current call's route may move on instead of waiting.</summary>
    public static bool CurrentCanFailOver => CallRoute.Current?.Upstream is { CanFailOver: true };
}
