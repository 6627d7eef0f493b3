using AspireRetry.Bench.Measuring;
using AspireRetry.Bench.Strategies;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace AspireRetry.Bench.Reporting;

/// <summary>The report's PNG charts (ScottPlot): one bar per strategy, grouped by scenario.</summary>
public static class Charts
{
    private static readonly Color[] StrategyColors =
    [
        Color.FromHex("#9e9e9e"), // naive
        Color.FromHex("#f2a65a"), // SDK
        Color.FromHex("#5b8ff9"), // standard handler
        Color.FromHex("#2e7d32"), // AspireRetry
    ];

    /// <summary>Writes the chart (three panels, one per headline metric) and returns its file name (relative to <paramref name="directory"/>).</summary>
    public static IReadOnlyList<string> Write(BenchRun run, string directory)
    {
        const string chart = "benchmarks.png";
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        var multiplot = new Multiplot();
        // A new Multiplot holds one empty plot; the panels below replace it.
        multiplot.RemovePlot(multiplot.GetPlot(0));
        // Success first: a latency over ideal is taken over the calls that succeeded, so it means little without it.
        multiplot.AddPlot(Grouped(run, "Calls that succeeded (higher is better; none can when the quota is exhausted)",
            m => m.SuccessRate * 100, v => v.ToString("0", invariant) + "%", logScale: false, legend: true));
        // Log scale, as exhausted quota puts the strategies that retry it hundreds of times over ideal.
        multiplot.AddPlot(Grouped(run, "Latency over ideal, calls that succeeded (log scale; 1x = ideal, lower is better)",
            m => m.OverIdeal, v => v.ToString(v >= 100 ? "0" : v >= 10 ? "0.0" : "0.00", invariant) + "x", logScale: true));
        multiplot.AddPlot(Grouped(run, "Upstream requests per call (lower is better)",
            m => m.RequestsPerCall, v => v.ToString("0.0#", invariant), logScale: false));
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Rows();
        multiplot.SavePng(Path.Combine(directory, chart), 1400, 1500);
        return [chart];
    }

    private static Plot Grouped(BenchRun run, string title, Func<Metrics, double> value, Func<double, string> label, bool logScale, bool legend = false)
    {
        var plot = new Plot();
        var strategies = StrategyKind.All;
        var groupWidth = strategies.Count + 1;
        var max = 0.0;
        for (var s = 0; s < strategies.Count; s++)
        {
            var bars = new List<Bar>();
            for (var g = 0; g < run.Scenarios.Count; g++)
            {
                var v = value(run.Scenarios[g].For(strategies[s].Id).Metrics);
                if (double.IsNaN(v))
                {
                    // No call succeeded, so there is no latency to compare: say so where the bar would be.
                    bars.Add(new Bar { Position = g * groupWidth + s, Value = 0, FillColor = StrategyColors[s % StrategyColors.Length], Label = "n/a" });
                    continue;
                }

                var height = logScale ? Math.Log10(Math.Max(v, 1)) : v;
                max = Math.Max(max, height);
                bars.Add(new Bar
                {
                    Position = g * groupWidth + s,
                    Value = height,
                    FillColor = StrategyColors[s % StrategyColors.Length],
                    Label = label(v),
                });
            }

            var series = plot.Add.Bars(bars);
            series.ValueLabelStyle.FontSize = 11;
        }

        if (legend)
        {
            // One legend for the three panels, in a row above the bars (the panel leaves room for it).
            plot.Legend.ManualItems.AddRange(strategies.Select((k, s) => new LegendItem { LabelText = k.Name, FillColor = StrategyColors[s % StrategyColors.Length] }));
            plot.Legend.Alignment = Alignment.UpperCenter;
            plot.Legend.Orientation = Orientation.Horizontal;
            plot.ShowLegend();
        }

        plot.Title(title);

        var centres = run.Scenarios.Select((_, g) => g * groupWidth + (strategies.Count - 1) / 2.0).ToArray();
        plot.Axes.Bottom.TickGenerator = new NumericManual(centres, [.. run.Scenarios.Select(s => s.Scenario.Id)]);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        if (logScale)
        {
            var ticks = new[] { 1.0, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000 }.Where(t => Math.Log10(t) <= max + 0.3).ToArray();
            plot.Axes.Left.TickGenerator = new NumericManual([.. ticks.Select(Math.Log10)], [.. ticks.Select(t => $"{t:0}x")]);
        }

        plot.Axes.Margins(bottom: 0, top: legend ? 0.3 : 0.15);
        return plot;
    }
}
