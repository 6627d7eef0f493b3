using System.Net.Http.Json;
using Aspire.Hosting.Testing;
using AspireRetry.Tests.Shared;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>
/// The dashboard's Metrics page as a person reads it: the attempts histogram's percentiles must be the true counts, not
/// the upper bound of OpenTelemetry's default first bucket (0-5), which read P50 = 5 for calls of one attempt.
/// </summary>
public sealed class MetricsPageTests(AspireAppFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Calm_messages_read_P50_of_1_attempt_on_the_dashboards_Metrics_page()
    {
        var page = await Browser.NewPageAsync();
        var login = (await fixture.App.GetDashboardUrlAsync(Ct))!;
        await page.GotoAsync(login.ToString());
        await fixture.ResetEmulatorAsync();
        var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (var i = 0; i < 3; i++)
        {
            var reply = await fixture.ChatApi.PostAsJsonAsync("/api/chat",
                new { model = "gpt-4o-mini", messages = new[] { new { role = "user", content = $"A calm message, {i}" } } }, Ct);
            reply.EnsureSuccessStatusCode();
        }

        var dashboard = new Uri(login.GetLeftPart(UriPartial.Authority));
        await page.GotoAsync(new Uri(dashboard, "/metrics/resource/chatapi?meter=AspireRetry&instrument=aspireretry.chat.attempts&duration=5&view=Graph").ToString());

        // The graph is Plotly's: its traces (P50, P90, P99 over time) are on the plot element. The values since this test's
        // first message are its calm calls alone (the tests of this assembly run one at a time).
        var p50 = await Poll.UntilAsync(async () =>
        {
            var values = await page.EvaluateAsync<double[]>("""
                start => {
                    const plot = document.querySelector('.js-plotly-plot');
                    const trace = plot?.data?.find(t => (t.name ?? '').startsWith('P50'));
                    if (!trace) return [];
                    return trace.x.map((x, i) => [new Date(x).getTime(), trace.y[i]])
                        .filter(([time, value]) => time >= start && value !== null && value > 0)
                        .map(([, value]) => value);
                }
                """, start);
            return values.Length > 0 ? values : null;
        }, "a P50 value of the calm messages on the Metrics page's graph", TimeSpan.FromSeconds(90), TimeSpan.FromMilliseconds(500));

        Assert.All(p50, value => Assert.Equal(1, value));
        await page.Context.CloseAsync();
    }
}
