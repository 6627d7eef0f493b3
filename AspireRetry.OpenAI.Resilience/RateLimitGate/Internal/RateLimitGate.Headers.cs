namespace AspireRetry.OpenAI.Resilience;

/// <summary>Completing a response's rate-limit headers: remaining-only counts (Azure) estimated from what this gate saw, and configured limits capping published ones.</summary>
internal sealed partial class RateLimitGate
{
    private readonly RemainingOnlyEstimate _requestsRemaining = new();
    private readonly RemainingOnlyEstimate _tokensRemaining = new();
    private TimeSpan _newestCountSent = TimeSpan.MinValue;

    /// <summary>
    /// Completes the dimensions a response gave only as remaining counts (Azure's <c>x-ratelimit-remaining-*</c>) from
    /// what this gate saw (<see cref="RemainingOnlyEstimate"/>), so they pace as published limits do. Requests spent
    /// between two counts are this gate's starts between them; tokens spent are not known here, so only a refill
    /// beyond the tokens' own drop proves their rate. <paramref name="age"/> is how long ago the attempt was sent,
    /// <paramref name="start"/> the start this gate gave it.
    /// </summary>
    /// <remarks>
    /// A limit configured for the model (<see cref="ModelRateLimits"/>) caps what is published: the lower limit, the
    /// slower refill, and no more remaining than the configured bucket holds (an app may keep to a share of its key).
    /// </remarks>
    public RateLimitHeaders Complete(RateLimitHeaders headers, TimeSpan age, TimeSpan? start)
    {
        if (_configured is not null)
        {
            headers = headers with
            {
                Requests = CappedBy(headers.Requests, _configured.RequestsPerMinute),
                Tokens = CappedBy(headers.Tokens, _configured.TokensPerMinute),
            };
        }

        if (!headers.HasRemainingOnly)
        {
            return headers;
        }

        lock (_lock)
        {
            var now = Now;
            var sent = start is { } s && s <= now ? s : now - age;
            var requests = headers.Requests
                ?? (headers.RequestsRemaining is { } r ? _requestsRemaining.Learn(sent, age, r, (from, to) => _starts.StartedStrictlyBetween(from, to) + 1) : null);
            var tokens = headers.Tokens
                ?? (headers.TokensRemaining is { } t ? _tokensRemaining.Learn(sent, age, t, static (_, _) => 0) : null);
            var newest = sent > _newestCountSent;
            _newestCountSent = TimeSpans.Max(_newestCountSent, sent);
            return new RateLimitHeaders(
                CappedBy(requests, _configured?.RequestsPerMinute), CappedBy(tokens, _configured?.TokensPerMinute),
                RequestsMayRise: headers.Requests is null && requests is not null && newest);
        }
    }

    /// <summary>A published dimension under a configured per-minute limit: the lower limit and rate, what remains of it.</summary>
    private static RateLimitDimension? CappedBy(RateLimitDimension? published, long? perMinute)
    {
        if (published is null || perMinute is not { } limit || limit >= published.Limit)
        {
            return published;
        }

        var rate = Math.Min(limit / 60_000d, published.RatePerMs ?? double.MaxValue);
        var remaining = Math.Min(published.Remaining, limit);
        return new RateLimitDimension(limit, remaining, remaining < limit ? TimeSpan.FromMilliseconds((limit - remaining) / rate) : null, published.Estimated);
    }
}
