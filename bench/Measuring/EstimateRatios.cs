using System.Diagnostics.Metrics;
using AspireRetry.OpenAI.Resilience;

namespace AspireRetry.Bench.Measuring;

/// <summary>One model's and part's estimate error: actual tokens over estimated ones, over the answers it was recorded for.</summary>
/// <param name="Model">The model (<c>gen_ai.request.model</c>).</param>
/// <param name="Part"><c>prompt</c> (input tokens over the prompt's estimate) or <c>total</c> (tokens spent over tokens reserved).</param>
public sealed record EstimateRatio(string Model, string Part, int Count, double Mean, double Min, double Max);

/// <summary>
/// Listens to the retry library's <c>aspireretry.tokens.estimate_ratio</c> histogram of one host (its
/// <see cref="IMeterFactory"/>), so the report can say how far the library's token estimates were from what the
/// upstream counted. Other hosts in the process (ChatApi in the load run, another scenario's AspireRetry) are not heard.
/// </summary>
public sealed class EstimateRatios : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Model, string Part), List<double>> _ratios = [];

    public EstimateRatios(IMeterFactory meters)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Name == RetryTelemetryConstants.Metrics.TokenEstimateRatio && ReferenceEquals(instrument.Meter.Scope, meters))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            string? model = null, part = null;
            foreach (var tag in tags)
            {
                if (tag.Key == RetryTelemetryConstants.Tags.Model)
                {
                    model = tag.Value as string;
                }
                else if (tag.Key == RetryTelemetryConstants.Tags.TokensPart)
                {
                    part = tag.Value as string;
                }
            }

            lock (_lock)
            {
                var key = (model ?? "?", part ?? "?");
                if (!_ratios.TryGetValue(key, out var values))
                {
                    _ratios[key] = values = [];
                }

                values.Add(value);
            }
        });
        _listener.Start();
    }

    /// <summary>Forgets what was heard so far (the warm-up's calls).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _ratios.Clear();
        }
    }

    public IReadOnlyList<EstimateRatio> Snapshot()
    {
        lock (_lock)
        {
            return [.. _ratios.OrderBy(r => r.Key.Model, StringComparer.Ordinal).ThenBy(r => r.Key.Part, StringComparer.Ordinal)
                .Select(r => new EstimateRatio(r.Key.Model, r.Key.Part, r.Value.Count, r.Value.Average(), r.Value.Min(), r.Value.Max()))];
        }
    }

    public void Dispose() => _listener.Dispose();
}
