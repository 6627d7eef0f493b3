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
        await CalmMessageAsync();
        var dashboard = new Uri(login.GetLeftPart(UriPartial.Authority));
        await page.GotoAsync(new Uri(dashboard, "/metrics/resource/chatapi?meter=AspireRetry&instrument=aspireretry.chat.attempts&duration=5&view=Graph").ToString());

        // Calm messages, one after another, until the graph has a point made of them alone. The graph is Plotly's: its
        // traces (P50, P90, P99 over time) are on the plot element, one point per interval holding what was recorded in it,
        // so a point is this test's alone when its interval began after the first calm message (the tests of this assembly
        // run one at a time).
        var p50 = await Poll.UntilAsync(async () =>
        {
            await CalmMessageAsync();
            if (!await page.EvaluateAsync<bool>("() => !!document.querySelector('.js-plotly-plot')?.data"))
            {
                await page.ReloadAsync(); // opened before the first value reached the dashboard: it lists the instrument once it has one
                return null;
            }

            var values = await page.EvaluateAsync<double[]>("""
                start => {
                    const plot = document.querySelector('.js-plotly-plot');
                    const trace = plot?.data?.find(t => (t.name ?? '').startsWith('P50'));
                    if (!trace || trace.x.length < 2) return [];
                    const times = trace.x.map(x => new Date(x).getTime());
                    return times.map((time, i) => [i > 0 ? times[i - 1] : time, trace.y[i]])
                        .filter(([begun, value], i) => i > 0 && begun >= start && value !== null && value > 0)
                        .map(([, value]) => value);
                }
                """, start);
            return values.Length > 0 ? values : null;
        }, "a point of the calm messages alone on the Metrics page's P50 graph", TimeSpan.FromSeconds(90), TimeSpan.FromMilliseconds(200));

        Assert.All(p50, value => Assert.Equal(1, value));
        await page.Context.CloseAsync();
    }

    private async Task CalmMessageAsync()
    {
        using var reply = await fixture.ChatApi.PostAsJsonAsync("/api/chat",
            new { model = "gpt-4o-mini", messages = new[] { new { role = "user", content = "A calm message" } } }, Ct);
        reply.EnsureSuccessStatusCode();
    }
}
