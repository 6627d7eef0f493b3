using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using static AspireRetry.OpenAI.Resilience.RetryTelemetryConstants;

namespace AspireRetry.OpenAI.Resilience;

#pragma warning disable MEAI001 // FailoverChatClient is experimental in Microsoft.Extensions.AI (10.11 and 11.0); its rule (fail over only before a stream's first update reaches the caller) is ours, so we build on it instead of copying it.

/// <summary>
/// One model's upstreams in priority order, as Microsoft.Extensions.AI's <see cref="FailoverChatClient"/>: each call
/// starts at the primary and moves to the next upstream when the current one fails in a way another upstream may not
/// (down, rate limited, out of quota, timed out, unreachable, refusing our key), never after a stream's first update
/// and never for a request that is itself at fault (400, 422). Before each upstream it tells the call's pipeline
/// whether a later upstream could take over (<see cref="UpstreamRoute.CanFailOver"/>), so that pipeline moves on
/// at once instead of retrying, waiting for recovery or waiting at its gate; the last upstream that can serve behaves
/// exactly as a single upstream does. With one upstream this is a pass-through.
/// </summary>
internal sealed class UpstreamFailoverChatClient : FailoverChatClient
{
    private readonly (OpenAIUpstream Upstream, IChatClient Client)[] _upstreams;
    private readonly UpstreamStateRegistry _registry;
    private readonly string _model;
    private readonly ILogger _logger;

    // The position each call in flight has reached; the base class keys a call by its RoutingContext.
    private readonly ConcurrentDictionary<RoutingContext, int> _position = new();

    public UpstreamFailoverChatClient(IReadOnlyList<(OpenAIUpstream Upstream, IChatClient Client)> upstreams, UpstreamStateRegistry registry, string model, ILogger logger)
    {
        _upstreams = [.. upstreams];
        _registry = registry;
        _model = model;
        _logger = logger;

        // Each upstream once per call: its own pipeline already retried what was worth retrying there.
        MaximumAttemptsPerRequest = _upstreams.Length;
    }

    /// <summary>Microsoft.Extensions.AI's OpenTelemetry asks for the provider's metadata: the primary's.</summary>
    public override object? GetService(Type serviceType, object? serviceKey = null) =>
        base.GetService(serviceType, serviceKey) ?? _upstreams[0].Client.GetService(serviceType, serviceKey);

    protected override ValueTask<IChatClient> SelectClientAsync(RoutingContext context, CancellationToken cancellationToken)
    {
        var position = _position.GetOrAdd(context, 0);
        var (upstream, client) = _upstreams[position];
        if (CallRoute.Current is { } route)
        {
            route.Upstream = new UpstreamRoute(upstream.Name, () => CanServeAfter(position));
        }

        CallProgress.Current?.Routed(upstream.Name);

        return ValueTask.FromResult(client);
    }

    protected override ValueTask OnRoutingUpdateAsync(RoutingContext context, FailoverChatClientAttempt attempt, bool isTerminal, CancellationToken cancellationToken)
    {
        var position = _position.GetValueOrDefault(context);
        if (attempt.ResponseCompleted)
        {
            Answered(_upstreams[position].Upstream);
        }

        if (isTerminal || attempt.Exception is not { } exception)
        {
            _position.TryRemove(context, out _);
            return ValueTask.CompletedTask;
        }

        if (position + 1 >= _upstreams.Length || FailoverReason(exception) is not { } reason)
        {
            _position.TryRemove(context, out _);
            return ValueTask.FromException(exception);
        }

        var from = _upstreams[position].Upstream.Name;
        var to = _upstreams[position + 1].Upstream.Name;
        _position[context] = position + 1;
        SpanEvents.Failover(from, to, reason);
        CallProgress.Current?.FailedOver(from, to, reason);
        _logger.LogInformation("Call to {Model} fails over from {From} to {To}: {Reason}", _model, from, to, reason);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// The GenAI span (current here) names the upstream that answered; its <c>server.address</c> and <c>server.port</c>,
    /// which Microsoft.Extensions.AI set from the primary's metadata, become that upstream's.
    /// </summary>
    private static void Answered(OpenAIUpstream upstream)
    {
        if (Activity.Current is not { } span)
        {
            return;
        }

        span.SetTag(Tags.Upstream, upstream.Name);
        span.SetTag("server.address", upstream.Connection.Endpoint.Host);
        span.SetTag("server.port", upstream.Connection.Endpoint.Port);
    }

    /// <summary>A later upstream is healthy: not known to be down (one no call has met yet counts as healthy).</summary>
    private bool CanServeAfter(int position)
    {
        for (var next = position + 1; next < _upstreams.Length; next++)
        {
            if (_registry.Find(_upstreams[next].Upstream.Name, _model) is not { } state || state.Recovery.State == RecoveryState.Up)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Why another upstream may succeed where this one failed; null when it would not (the request is at fault, the
    /// caller cancelled, or a stream broke after its answer began, which is never re-sent).
    /// </summary>
    internal static string? FailoverReason(Exception exception) => UpstreamFailure.Classify(exception) switch
    {
        null or { Kind: UpstreamFailureKind.RequestInvalid or UpstreamFailureKind.StreamBroken or UpstreamFailureKind.Cancelled } => null,
        { Kind: UpstreamFailureKind.Down } => "upstream down (circuit breaker open)",
        { Kind: UpstreamFailureKind.GateClosed } => "rate limited (gate closed)",
        { Kind: UpstreamFailureKind.RequestTooLarge } => "request larger than its token limit",
        { Kind: UpstreamFailureKind.TimedOut } => "timed out",
        { Kind: UpstreamFailureKind.Unreachable } unreachable => $"unreachable ({UpstreamOutcome.DescribeException(unreachable.Exception)})",
        { Status: 429, ErrorCode: { } code } => $"429 {code}",
        { Status: { } status } => status.ToString(CultureInfo.InvariantCulture),
        _ => null,
    };
}
