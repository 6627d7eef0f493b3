namespace AspireRetry.OpenAI.Resilience;

/// <summary>The gate's token admission: what the token bucket allows, what an attempt holds, and what comes back.</summary>
internal sealed partial class RateLimitGate
{
    /// <summary>Whether the gate mirrors the upstream's token bucket (published or configured), so attempts reserve their tokens.</summary>
    public bool KnowsTokens
    {
        get
        {
            lock (_lock)
            {
                return _tokens.Known;
            }
        }
    }

    /// <summary>The token bucket's size (tokens a minute); 0 while it is not known.</summary>
    public long TokenLimit
    {
        get
        {
            lock (_lock)
            {
                return _tokens.Known ? _tokens.Limit : 0;
            }
        }
    }

    /// <summary>
    /// The largest estimate one attempt may hold with its margin (the token bucket less the margin's share), for batches
    /// that must each fit; null while the bucket is not known.
    /// </summary>
    public long? TokenCeiling
    {
        get
        {
            lock (_lock)
            {
                return _tokens.Known ? (long)Math.Floor(_tokens.Limit / (1 + Shortfall.Share)) : null;
            }
        }
    }

    /// <summary>The tokens an attempt given <paramref name="start"/> holds: its cost, while the token bucket is known.</summary>
    private long TakeTokensLocked(TimeSpan start, long tokens)
    {
        if (tokens <= 0 || !_tokens.Known)
        {
            return 0;
        }

        _tokens.Take(start, tokens);
        return tokens;
    }

    /// <summary>The attempt given <paramref name="start"/> was answered with a failure (a 429, a 5xx): the upstream spent none of its tokens.</summary>
    public void TokensUnspent(TimeSpan start)
    {
        lock (_lock)
        {
            _tokens.GiveBack(Now, start);
        }
    }

    /// <summary>An answer that held <paramref name="held"/> tokens reported it spent <paramref name="spent"/>: the difference comes back (or is taken).</summary>
    public void SettleTokens(long held, long spent)
    {
        lock (_lock)
        {
            _tokens.Settle(Now, held, spent);
        }
    }
}
