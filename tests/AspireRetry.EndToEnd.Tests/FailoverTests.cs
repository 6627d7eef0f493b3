using System.Net.Http.Json;
using Aspire.Hosting.Testing;
using Microsoft.Playwright;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>
/// Two upstreams, the primary misbehaving: what a user sees on the page (which upstream answered, no wait), what
/// an operator sees in the dashboard (a failover event, each attempt naming its upstream), and what each emulator saw.
/// </summary>
[Collection(TwoUpstreamsCollection.Name)]
public sealed class FailoverTests(TwoUpstreamsAppFixture fixture) : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => await fixture.ResetAsync(Ct);

    public async ValueTask DisposeAsync()
    {
        // Leave the primary calm for the next test (its reset also waits for the primary to serve again).
        (await fixture.PrimaryEmulator.DeleteAsync("/emulator/chaos")).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task Primary_down_every_chat_on_the_page_is_answered_by_the_secondary_with_no_visible_wait()
    {
        var page = await Browser.NewPageAsync();
        await page.GotoAsync(fixture.App.GetEndpoint("webfrontend", "http").ToString());
        await page.Locator(".chat[data-interactive=true]").WaitForAsync();
        await page.Locator("details.chaos summary").ClickAsync();
        await page.GetByLabel("Scenario").SelectOptionAsync("Primary down");
        await Assertions.Expect(page.Locator(".chaos summary .current")).ToHaveTextAsync("Primary down");

        var replies = page.Locator("article.assistant");
        for (var i = 1; i <= 3; i++)
        {
            await page.GetByLabel("Message").FillAsync($"Message {i}: who answers?");
            await page.GetByLabel("Message").PressAsync("Enter");
            var reply = replies.Nth(i - 1);
            await Assertions.Expect(reply.Locator(".meta .upstream")).ToHaveTextAsync("via openai-2", new() { Timeout = 15_000 });
            await Assertions.Expect(reply.Locator(".markdown")).ToContainTextAsync($"Message {i}: who answers?");

            // No wait was shown or counted: no retry countdown, no recovery wait, nothing under "waited".
            await Assertions.Expect(reply.Locator(".meta")).Not.ToContainTextAsync("waited");
        }

        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("chat-failover.png") });

        // The primary was never retried: at most one 503 per message (fewer once its breaker skipped it); the secondary answered each.
        var primary = await TwoUpstreamsAppFixture.OutcomesAsync(fixture.PrimaryEmulator, null, Ct);
        Assert.InRange(primary.Count, 1, 3);
        Assert.All(primary, outcome => Assert.Equal("service_unavailable", outcome));
        Assert.Equal(["ok", "ok", "ok"], await TwoUpstreamsAppFixture.OutcomesAsync(fixture.SecondaryEmulator, null, Ct));

        // The first message's trace: its GenAI span says it failed over, and each attempt names its upstream.
        var href = await replies.First.GetByRole(AriaRole.Link, new() { Name = "View trace" }).GetAttributeAsync("href");
        var traceId = System.Text.RegularExpressions.Regex.Match(href ?? "", "/traces/detail/([0-9a-f]{32})$").Groups[1].Value;
        var dashboard = await DashboardTelemetry.ConnectAsync(fixture.App, AspireAppFixture.DashboardApiKey, Ct);
        var spans = await dashboard.WaitForTraceAsync(traceId, s => s.Count(x => x.IsUpstreamAttempt) == 2 && s.Any(x => x.Name == "chat gpt-4o"), Ct);
        var attempts = spans.Where(s => s.IsUpstreamAttempt).OrderBy(s => s.StartTimeUnixNano).ToList();
        Assert.Equal(["openai", "openai-2"], attempts.Select(a => a.Attr("upstream.name")));
        Assert.Equal(["503", "200"], attempts.Select(a => a.Attr("http.response.status_code")));
        Assert.NotEqual(attempts[0].Attr("server.port"), attempts[1].Attr("server.port"));
        var genAi = Assert.Single(spans, s => s.Name == "chat gpt-4o");
        Assert.Equal("openai-2", genAi.Attr("upstream.name"));
        Assert.Equal(attempts[1].Attr("server.port"), genAi.Attr("server.port"));
        var failover = Assert.Single(genAi.Events, e => e.Name == "upstream.failover");
        Assert.Equal("openai", failover.Attributes["upstream.name"]);
        Assert.Equal("openai-2", failover.Attributes["upstream.next"]);
        Assert.Equal("503", failover.Attributes["upstream.failover_reason"]);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Both_upstreams_down_the_page_says_where_it_goes_then_waits_for_recovery_and_every_status_it_showed_was_true()
    {
        var emulators = new[] { fixture.PrimaryEmulator, fixture.SecondaryEmulator };
        foreach (var emulator in emulators)
        {
            using var down = await emulator.PutAsJsonAsync("/emulator/chaos", new { name = "Outage", serviceUnavailable503 = 1.0, retryAfterMs = 50 }, Ct);
            down.EnsureSuccessStatusCode();
        }

        var page = await Browser.NewPageAsync();
        try
        {
            await page.GotoAsync(fixture.App.GetEndpoint("webfrontend", "http").ToString());
            await page.Locator(".chat[data-interactive=true]").WaitForAsync();
            // Every status line the page shows, however briefly: what a person could have read.
            await page.EvaluateAsync("""
                () => {
                  window.statuses = [];
                  const record = () => document.querySelectorAll('article.assistant .status').forEach(s => {
                    if (window.statuses[window.statuses.length - 1] !== s.textContent) window.statuses.push(s.textContent);
                  });
                  new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
                }
                """);

            await page.GetByLabel("Message").FillAsync("Wait for me");
            await page.GetByLabel("Message").PressAsync("Enter");
            var reply = page.Locator("article.assistant").Last;

            // The primary's 503 sends the call to the secondary; two 503s there take it down too, and the call waits for it.
            await Assertions.Expect(reply.Locator(".status")).ToContainTextAsync("Upstream is down - waiting for it to recover", new() { Timeout = 15_000 });
            await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("chat-both-upstreams-down.png") });
            await Poll.UntilAsync(TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(25),
                async () => (await TwoUpstreamsAppFixture.OutcomesAsync(fixture.SecondaryEmulator, null, Ct)).Count >= 3); // a failed check too
            foreach (var emulator in emulators)
            {
                (await emulator.DeleteAsync("/emulator/chaos", Ct)).EnsureSuccessStatusCode();
            }

            await Assertions.Expect(reply.Locator(".markdown")).ToContainTextAsync("Wait for me", new() { Timeout = 15_000 });
            var footer = await reply.Locator(".meta .attempts").InnerTextAsync();
            var statuses = await page.EvaluateAsync<string[]>("() => window.statuses");

            Assert.Contains(statuses, s => s.StartsWith("Trying openai-2 (openai: 503)", StringComparison.Ordinal));
            Assert.Contains(statuses, s => s.StartsWith("Upstream is down - waiting for it to recover", StringComparison.Ordinal));
            Assert.DoesNotContain(statuses, s => s.Contains("attempt 0", StringComparison.Ordinal));
            var shown = statuses.Select(s => System.Text.RegularExpressions.Regex.Match(s, @"\(attempt (\d+)(?: of (\d+))?\)")).Where(m => m.Success).ToList();
            Assert.All(shown, m => Assert.True(!m.Groups[2].Success || int.Parse(m.Groups[1].Value) <= int.Parse(m.Groups[2].Value), m.Value));
            // No "of N" once the call had waited for recovery: its checks are attempts no limit counted.
            var firstRecovery = Array.FindIndex(statuses, s => s.StartsWith("Upstream is down", StringComparison.Ordinal));
            Assert.DoesNotContain(statuses.Skip(firstRecovery), s => System.Text.RegularExpressions.Regex.IsMatch(s, @"\(attempt \d+ of \d+\)"));

            // The footer counts what the upstreams saw for this message, and no status promised fewer.
            var sent = (await TwoUpstreamsAppFixture.OutcomesAsync(fixture.PrimaryEmulator, null, Ct)).Count
                + (await TwoUpstreamsAppFixture.OutcomesAsync(fixture.SecondaryEmulator, null, Ct)).Count;
            Assert.Equal($"{sent} attempts", footer);
            Assert.All(shown, m => Assert.True(int.Parse(m.Groups[1].Value) <= sent, m.Value));

            // Its trace: a handful of recovery waits on the GenAI span (one per wait, not one per poll).
            var href = await reply.GetByRole(AriaRole.Link, new() { Name = "View trace" }).GetAttributeAsync("href");
            var traceId = System.Text.RegularExpressions.Regex.Match(href ?? "", "/traces/detail/([0-9a-f]{32})$").Groups[1].Value;
            var dashboard = await DashboardTelemetry.ConnectAsync(fixture.App, AspireAppFixture.DashboardApiKey, Ct);
            var spans = await dashboard.WaitForTraceAsync(traceId, s => s.Count(x => x.IsUpstreamAttempt) == sent && s.Any(x => x.Name == "chat gpt-4o"), Ct);
            var waits = Assert.Single(spans, s => s.Name == "chat gpt-4o").Events.Where(e => e.Name == "circuit_breaker.recovery_wait").ToList();
            Assert.InRange(waits.Count, 1, 5);
            Assert.All(waits, w => Assert.Equal("openai-2", w.Attributes["upstream.name"]));
        }
        finally
        {
            foreach (var emulator in emulators)
            {
                (await emulator.DeleteAsync("/emulator/chaos", Ct)).EnsureSuccessStatusCode();
            }

            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task Primary_back_traffic_returns_to_it_within_its_probe_interval()
    {
        var caller = $"return-{Guid.NewGuid():N}";
        using var chatApi = fixture.ChatApiFor(caller);
        using (var down = await fixture.PrimaryEmulator.PutAsJsonAsync("/emulator/chaos", new { name = "Primary down", serviceUnavailable503 = 1.0 }, Ct))
        {
            down.EnsureSuccessStatusCode();
        }

        // Two 503s in a row take the primary down; every chat meanwhile is answered by the secondary.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("openai-2", await TwoUpstreamsAppFixture.ChatAsync(chatApi, "Anyone there?", Ct));
        }

        (await fixture.PrimaryEmulator.DeleteAsync("/emulator/chaos", Ct)).EnsureSuccessStatusCode();
        // The primary is checked at least every BreakDuration (0.5 s here): one of these chats meets the check. The poll's
        // bound only catches a primary never checked again; how soon is the gate's business (RecoveryGateTests, on a fake clock).
        await Poll.UntilAsync(TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20),
            async () => await TwoUpstreamsAppFixture.ChatAsync(chatApi, "Back?", Ct) == "openai");

        Assert.Equal("openai", await TwoUpstreamsAppFixture.ChatAsync(chatApi, "Still you?", Ct));
    }

    [Fact]
    public async Task Primary_rate_limited_calls_go_to_the_secondary_instead_of_waiting()
    {
        var caller = $"limited-{Guid.NewGuid():N}";
        using var chatApi = fixture.ChatApiFor(caller);
        using (var script = await fixture.PrimaryEmulator.PostAsJsonAsync("/emulator/chaos/script", new { outcomes = new[] { "429:retry-after-ms=2000" }, caller }, Ct))
        {
            script.EnsureSuccessStatusCode();
        }

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("openai-2", await TwoUpstreamsAppFixture.ChatAsync(chatApi, "Limited?", Ct));
        }

        // Judged by what each upstream saw, not by a clock: waiting for the primary (its retry, or its closed gate) would
        // show as a second request there.
        Assert.Equal(["rate_limit"], await TwoUpstreamsAppFixture.OutcomesAsync(fixture.PrimaryEmulator, caller, Ct));
        Assert.Equal(["ok", "ok", "ok"], await TwoUpstreamsAppFixture.OutcomesAsync(fixture.SecondaryEmulator, caller, Ct));
    }

    [Fact]
    public async Task Quota_exhausted_on_the_primary_goes_to_the_secondary_and_is_never_retried_on_the_primary()
    {
        var caller = $"quota-{Guid.NewGuid():N}";
        using var chatApi = fixture.ChatApiFor(caller);
        using (var script = await fixture.PrimaryEmulator.PostAsJsonAsync("/emulator/chaos/script", new { outcomes = new[] { "quota", "quota" }, caller }, Ct))
        {
            script.EnsureSuccessStatusCode();
        }

        Assert.Equal("openai-2", await TwoUpstreamsAppFixture.ChatAsync(chatApi, "Out of quota?", Ct));
        Assert.Equal("openai-2", await TwoUpstreamsAppFixture.ChatAsync(chatApi, "Still out?", Ct));

        // One request per chat reached the primary: an exhausted quota is never retried there.
        Assert.Equal(["insufficient_quota", "insufficient_quota"], await TwoUpstreamsAppFixture.OutcomesAsync(fixture.PrimaryEmulator, caller, Ct));
        Assert.Equal(["ok", "ok"], await TwoUpstreamsAppFixture.OutcomesAsync(fixture.SecondaryEmulator, caller, Ct));
    }
}
