namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// How far one upstream and model's token estimates have fallen short of what the answers spent, as the margin each
/// reservation holds on top of its estimate: the largest shortfall (tokens spent beyond the estimate) among the last
/// <see cref="Window"/> answers, as a share of their mean estimate. A miss of 30 tokens on a 300-token reply weighs as
/// a tenth when the model's requests are 300 tokens, and as a hundredth when they are 3,000; a 2-token embedding that spent
/// 3 does not make every request hold half as much again. Until that many answers are in, the margin is at least
/// <c>RateLimit:Reserve</c> (nothing shows yet how far the estimate errs). Each answer's usage gives back what it held
/// beyond what it spent, so the margin costs tokens only while an attempt waits or is in flight. Thread-safe.
/// </summary>
/// <param name="initialShare">The margin until <see cref="Window"/> answers are in (<c>RateLimit:Reserve</c>).</param>
internal sealed class EstimateShortfall(double initialShare)
{
    /// <summary>Answers remembered.</summary>
    public const int Window = 16;

    /// <summary>The largest margin, as a share of the estimate.</summary>
    public const double MaxShare = 1.0;

    private readonly Lock _lock = new();
    private readonly (long Estimated, long Short)[] _answers = new (long, long)[Window];
    private int _count;
    private int _next;

    /// <summary>The margin, as a share of a request's estimate.</summary>
    public double Share
    {
        get
        {
            lock (_lock)
            {
                long estimated = 0;
                long largest = 0;
                foreach (var (e, s) in _answers.AsSpan(0, _count))
                {
                    estimated += e;
                    largest = Math.Max(largest, s);
                }

                // At most the estimate again: one long answer among short estimates must not make every reservation hold
                // several times its size for the next 16 answers (and split embeddings batches as finely).
                var seen = estimated > 0 ? Math.Min(MaxShare, largest / ((double)estimated / _count)) : 0;
                return _count < Window ? Math.Max(seen, initialShare) : seen;
            }
        }
    }

    /// <summary>The tokens a request estimated at <paramref name="estimate"/> holds: the estimate and its margin.</summary>
    public long Hold(long estimate) => estimate <= 0 ? estimate : estimate + (long)Math.Ceiling(estimate * Share);

    /// <summary>An answer to a request estimated at <paramref name="estimated"/> tokens spent <paramref name="spent"/>.</summary>
    public void Learn(long estimated, long spent)
    {
        if (estimated <= 0 || spent < 0)
        {
            return;
        }

        lock (_lock)
        {
            _answers[_next] = (estimated, Math.Max(0, spent - estimated));
            _next = (_next + 1) % Window;
            _count = Math.Min(_count + 1, Window);
        }
    }
}
