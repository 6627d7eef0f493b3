using System.Collections.Concurrent;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// How many completion tokens a request that sets no limit is expected to spend, learned per model from the
/// <c>usage</c> answers report: the largest of the last <see cref="Window"/> completions, so a reservation rarely falls
/// short (what it holds beyond the actual is given back when the answer reports its usage). Thread-safe.
/// </summary>
internal sealed class CompletionSizes
{
    /// <summary>Completions remembered per model.</summary>
    public const int Window = 16;

    /// <summary>Before a model's first answer: a short reply's worth.</summary>
    public const int Default = 256;

    private readonly ConcurrentDictionary<string, Recent> _byModel = new(StringComparer.Ordinal);

    /// <summary>The completion tokens to reserve for a request to <paramref name="model"/> that sets no limit.</summary>
    public int ExpectedFor(string model) => _byModel.TryGetValue(model, out var recent) ? recent.Max : Default;

    /// <summary>An answer of <paramref name="model"/> spent <paramref name="completionTokens"/>.</summary>
    public void Learn(string model, int completionTokens)
    {
        if (completionTokens >= 0)
        {
            _byModel.GetOrAdd(model, static _ => new Recent()).Add(completionTokens);
        }
    }

    private sealed class Recent
    {
        private readonly Lock _lock = new();
        private readonly int[] _sizes = new int[Window];
        private int _count;
        private int _next;

        public int Max
        {
            get
            {
                lock (_lock)
                {
                    if (_count == 0)
                    {
                        return Default;
                    }

                    var max = 0;
                    foreach (var size in _sizes.AsSpan(0, _count))
                    {
                        max = Math.Max(max, size);
                    }

                    return max;
                }
            }
        }

        public void Add(int size)
        {
            lock (_lock)
            {
                _sizes[_next] = size;
                _next = (_next + 1) % Window;
                _count = Math.Min(_count + 1, Window);
            }
        }
    }
}
