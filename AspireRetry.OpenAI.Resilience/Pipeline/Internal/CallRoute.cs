namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// Where the current call goes: the model of the client it was made on, and (with several upstreams) the upstream of
/// this pass. The call scope of each chat client and embedding generator sets it for every call, whatever the caller
/// observes; the pipeline reads it to pick that upstream and model's pipeline (its breaker, gate and budget).
/// A caller's <see cref="CallProgress"/> only observes: it never decides where a call goes.
/// </summary>
internal sealed class CallRoute(string model)
{
    private static readonly AsyncLocal<CallRoute?> CurrentRoute = new();

    /// <summary>The route of the call under way in this flow, if any.</summary>
    public static CallRoute? Current => CurrentRoute.Value;

    /// <summary>The model of the client the call was made on.</summary>
    public string Model { get; } = model;

    /// <summary>The upstream of this pass, set by the failover before each upstream.</summary>
    public UpstreamRoute? Upstream { get; set; }

    /// <summary>The tokens the call's answered attempt holds at its gate, for the call scope to settle from the answer's usage.</summary>
    public TokenReservation? Tokens { get; set; }

    /// <summary>Makes this the current route until the returned scope is disposed.</summary>
    public IDisposable Enter()
    {
        var previous = CurrentRoute.Value;
        CurrentRoute.Value = this;
        return new Scope(() => CurrentRoute.Value = previous);
    }

    private sealed class Scope(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}
