using Microsoft.Extensions.DependencyInjection;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting.Testing;
using Microsoft.Playwright;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>The chat page in a real browser, against the running Aspire app.</summary>
public sealed class ChatPageTests(AspireAppFixture fixture) : ChatPageTest(fixture)
{
    [Fact]
    public async Task A_message_typed_in_thePage_is_answered_with_a_streamed_reply()
    {
        await SendAsync("What is exponential backoff?");

        await Assertions.Expect(LastReply.Locator(".markdown")).ToContainTextAsync("What is exponential backoff?");
        await Assertions.Expect(LastReply.Locator(".meta .attempts")).ToHaveTextAsync("1 attempt");
        await Assertions.Expect(Page.Locator("article.user")).ToHaveTextAsync("What is exponential backoff?");
    }

    [Fact]
    public async Task Rate_limited_shows_the_live_retry_status_then_three_attempts_in_the_footer()
    {
        await ChooseScenarioAsync("Rate limited");

        await SendAsync("Will this be retried?");

        await Assertions.Expect(LastReply.Locator(".status")).ToContainTextAsync("Rate limited (429) - retrying in");
        await Assertions.Expect(LastReply.Locator(".status")).ToContainTextAsync($"(attempt 2 of {AspireAppFixture.MaxRetryAttempts + 1})");
        await Page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("chat-live-retry.png") });
        await Assertions.Expect(LastReply.Locator(".meta .attempts")).ToHaveTextAsync("3 attempts", new() { Timeout = 15_000 });
        await Assertions.Expect(LastReply.Locator(".markdown")).ToContainTextAsync("Will this be retried?");
        await Page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("chat-retried-reply.png") });

        var stats = await StatsAsync();
        Assert.Equal(3, stats.GetProperty("total").GetInt32());
        Assert.Equal(2, stats.GetProperty("byOutcome").GetProperty("rate_limit").GetInt32());
        AssertNoConsoleErrors();
    }

    [Fact]
    public async Task A_message_behind_a_closed_rate_limit_gate_says_it_is_waiting_for_the_reset()
    {
        // Another caller of the same model meets a 429 with a 2.5 s wait: ChatApi's gate for gpt-4o
        // closes for every caller, so this page's message waits for the reset instead of spending a request.
        const string other = "gate-closer";
        await Fixture.ScriptAsync(other, "429:retry-after-ms=2500", "ok");
        var closing = Fixture.ChatApiFor(other).PostAsJsonAsync("/api/chat",
            new { model = "gpt-4o", messages = new[] { new { role = "user", content = "I hit the limit first" } } }, Ct);
        await Poll.UntilAsync(TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(25), async () => (await Fixture.Emulator.GetFromJsonAsync<JsonElement[]>($"/emulator/requests?caller={other}", Ct))!.Length == 1);

        await SendAsync("Am I waiting?");

        await Assertions.Expect(LastReply.Locator(".status")).ToContainTextAsync("Waiting for the rate limit to reset: ");
        await Assertions.Expect(LastReply.Locator(".meta .attempts")).ToHaveTextAsync("1 attempt", new() { Timeout = 15_000 });
        using var closed = await closing;
        var stats = await StatsAsync();
        Assert.Equal(1, stats.GetProperty("byOutcome").GetProperty("rate_limit").GetInt32()); // only the first caller's 429
        AssertNoConsoleErrors();
    }

    [Fact]
    public async Task Stop_during_a_slow_stream_keeps_the_partial_reply_marked_and_ends_the_upstream_request()
    {
        var dashboard = await DashboardTelemetry.ConnectAsync(Fixture.App, AspireAppFixture.DashboardApiKey, Ct);
        await ChooseScenarioAsync("Slow stream");

        // At 3 tokens a second the emulator's answer to this question would take well over 20 s.
        await SendAsync("Please explain, step by step and in detail, why a retry policy needs jitter, timeouts, a budget and a circuit breaker?");
        await Assertions.Expect(LastReply.Locator(".markdown")).ToContainTextAsync("You asked", new() { Timeout = 10_000 });
        await Page.GetByRole(AriaRole.Button, new() { Name = "Stop" }).ClickAsync();

        await Assertions.Expect(LastReply.Locator(".marker")).ToHaveTextAsync("Stopped. The reply above is partial.");
        Assert.DoesNotContain("I am not a real model", await LastReply.Locator(".markdown").InnerTextAsync(), StringComparison.Ordinal);
        await Assertions.Expect(Page.GetByRole(AriaRole.Button, new() { Name = "Send" })).ToBeVisibleAsync();

        // The upstream request ended with the Stop: its server span is in the dashboard long before the
        // stream could have finished, ChatApi's GenAI span ended too, and nothing was retried.
        var traceId = TraceIdOf(await LastReply.GetByRole(AriaRole.Link, new() { Name = "View trace" }).GetAttributeAsync("href"));
        var spans = await dashboard.WaitForTraceAsync(traceId, s =>
            s.Any(x => x.Service == "openai-emulator" && x.Kind == Span.KindServer) && s.Any(x => x.Name == "chat gpt-4o"), Ct);
        Assert.DoesNotContain(spans, x => x.Name.Contains("/emulator/", StringComparison.Ordinal)); // chaos calls trace on their own
        var upstream = Assert.Single(spans, x => x.Service == "openai-emulator" && x.Kind == Span.KindServer);
        Assert.True(upstream.Duration < TimeSpan.FromSeconds(15), $"the upstream request ran {upstream.Duration} after Stop");
        Assert.Single(spans, x => x.Service == "chatapi" && x.Kind == Span.KindClient && x.Attr("http.request.method") is not null);
        Assert.Equal(1, (await StatsAsync()).GetProperty("total").GetInt32());
        AssertNoConsoleErrors();
    }

    [Fact]
    public async Task Outage_ends_in_the_upstream_down_message_after_every_attempt()
    {
        await ChooseScenarioAsync("Outage");

        await SendAsync("Is anyone there?");

        var error = LastReply.Locator(".error[role=alert]");
        await Assertions.Expect(error).ToContainTextAsync("Upstream unavailable", new() { Timeout = 20_000 });
        await Assertions.Expect(error).ToContainTextAsync("Try again in 1.0 s");
        await Assertions.Expect(LastReply.Locator(".meta .attempts")).ToHaveTextAsync($"{AspireAppFixture.MaxRetryAttempts + 1} attempts");
        Assert.Equal(AspireAppFixture.MaxRetryAttempts + 1, (await StatsAsync()).GetProperty("byOutcome").GetProperty("service_unavailable").GetInt32());
        AssertNoConsoleErrors();
    }

    [Fact]
    public async Task Quota_exhausted_is_explained_and_not_retried()
    {
        await ChooseScenarioAsync("Quota exhausted");

        await SendAsync("One more, please");

        await Assertions.Expect(LastReply.Locator(".error[role=alert]")).ToContainTextAsync("Upstream quota exhausted");
        await Assertions.Expect(LastReply.Locator(".meta .attempts")).ToHaveTextAsync("1 attempt");
        Assert.Equal(1, (await StatsAsync()).GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task Scripted_outcomes_apply_to_thisPages_next_message_and_bad_entries_are_refused_by_name()
    {
        await OpenChaosPanelAsync();
        await Page.GetByLabel("Script your next outcomes").FillAsync("503:retry-after-ms=100, ok");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Queue" }).ClickAsync();
        await Assertions.Expect(Page.Locator(".chaos .queued")).ToHaveTextAsync("Your next requests will get: 503:retry-after-ms=100, ok");

        await SendAsync("Scripted?");
        await Assertions.Expect(LastReply.Locator(".meta .attempts")).ToHaveTextAsync("2 attempts", new() { Timeout = 15_000 });

        await Page.GetByLabel("Script your next outcomes").FillAsync("ok, 418");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Queue" }).ClickAsync();
        await Assertions.Expect(Page.Locator(".chaos .error[role=alert]")).ToContainTextAsync("outcomes[1]");
        AssertNoConsoleErrors();
    }

    [Fact]
    public async Task View_trace_opens_the_dashboard_trace_of_that_reply()
    {
        // The dashboard wants its login token once per browser; the link then works like for a person.
        var login = await Page.Context.NewPageAsync();
        await login.GotoAsync((await Aspire.Hosting.Testing.DistributedApplicationHostingTestingExtensions.GetDashboardUrlAsync(Fixture.App, Ct))!.ToString());
        await login.CloseAsync();
        await SendAsync("Where is my trace?");
        var link = LastReply.GetByRole(AriaRole.Link, new() { Name = "View trace" });
        await Assertions.Expect(link).ToBeVisibleAsync();
        var traceId = TraceIdOf(await link.GetAttributeAsync("href"));

        // The dashboard's trace page does not come back to a trace it found no span of yet: opened before the first
        // batch of the trace's spans arrived (they end with the reply, and go out in batches), it says "not found" and
        // stays so. A person reloads; the test waits for the spans first (the README says so too).
        var telemetry = await DashboardTelemetry.ConnectAsync(Fixture.App, AspireAppFixture.DashboardApiKey, Ct);
        await telemetry.WaitForTraceAsync(traceId, s => s.Any(x => x.Name == "chat gpt-4o"), Ct);
        var dashboard = await Page.RunAndWaitForPopupAsync(() => link.ClickAsync());

        await Assertions.Expect(dashboard).ToHaveURLAsync(new System.Text.RegularExpressions.Regex($"/traces/detail/{traceId}$"));
        await Assertions.Expect(dashboard.GetByText("chat gpt-4o").First).ToBeVisibleAsync(new() { Timeout = 45_000 });
        await Assertions.Expect(dashboard.GetByText("POST /api/chat/stream").First).ToBeVisibleAsync();
    }

    [Fact]
    public async Task At_phone_width_thePage_fits_and_the_composer_stays_usable()
    {
        await Page.SetViewportSizeAsync(390, 844);
        await SendAsync("Small screen?");
        await Assertions.Expect(LastReply.Locator(".meta .attempts")).ToHaveTextAsync("1 attempt");

        var overflow = await Page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth > window.innerWidth");
        Assert.False(overflow, "the page scrolls sideways at 390 px");
        await Assertions.Expect(Page.GetByLabel("Message")).ToBeInViewportAsync();
        await Page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("chat-phone.png") });
        AssertNoConsoleErrors();
    }

    [Fact]
    public async Task Hostile_html_and_links_in_a_reply_are_shown_as_text_and_never_run()
    {
        // The emulator quotes the question in its reply, so the reply carries the attack back to the page.
        const string attack = "<img src=x onerror=\"window.__pwned=1\"> <script>window.__pwned=2</script> [click me](javascript:window.__pwned=3)";
        await SendAsync(attack);

        var markdown = LastReply.Locator(".markdown");
        await Assertions.Expect(markdown).ToContainTextAsync("<img src=x onerror=");
        await Assertions.Expect(markdown).ToContainTextAsync("<script>window.__pwned=2</script>");
        Assert.Equal(0, await Page.Locator("article img, article script").CountAsync());
        var link = markdown.GetByRole(AriaRole.Link, new() { Name = "click me" });
        Assert.DoesNotContain("javascript", await link.GetAttributeAsync("href") ?? "", StringComparison.OrdinalIgnoreCase);
        await link.ClickAsync();

        Assert.True(await Page.EvaluateAsync<bool>("() => window.__pwned === undefined"), "a script from the reply ran");
        AssertNoConsoleErrors();
    }

    [Fact]
    public async Task The_dashboard_stays_behind_its_login_token()
    {
        var dashboard = await DashboardTelemetry.ConnectAsync(Fixture.App, AspireAppFixture.DashboardApiKey, Ct);
        var stranger = await Browser.NewPageAsync();

        await stranger.GotoAsync(new Uri(dashboard.BaseAddress, "/traces").ToString());

        await Assertions.Expect(stranger).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/login"));
        using var anonymous = new HttpClient { BaseAddress = dashboard.BaseAddress };
        using var api = await anonymous.GetAsync("/api/telemetry/spans?limit=1", Ct);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, api.StatusCode);
        await stranger.Context.CloseAsync();
    }

    [Fact]
    public async Task Shift_Enter_adds_a_line_Enter_sends_and_Escape_stops_without_leaving_the_keyboard()
    {
        await ChooseScenarioAsync("Slow stream");
        var box = Page.GetByLabel("Message");

        await box.FillAsync("line one");
        await box.PressAsync("Shift+Enter");
        await box.PressSequentiallyAsync("line two");
        await box.PressAsync("Enter");

        var sent = Page.Locator("article.user").Last;
        await Assertions.Expect(sent).ToContainTextAsync("line one");
        await Assertions.Expect(sent).ToContainTextAsync("line two");
        await Assertions.Expect(Page.Locator("article.user")).ToHaveCountAsync(1);
        await Assertions.Expect(LastReply.Locator(".markdown")).ToContainTextAsync("You asked", new() { Timeout = 10_000 });
        await Assertions.Expect(box).ToBeFocusedAsync(); // typing the next message can start while this one streams

        await box.PressAsync("Escape");

        await Assertions.Expect(LastReply.Locator(".marker")).ToHaveTextAsync("Stopped. The reply above is partial.");
        await Assertions.Expect(box).ToBeFocusedAsync();
        AssertNoConsoleErrors();
    }

    [Fact]
    public async Task The_upstream_label_follows_a_scenario_picked_in_the_dashboard_without_a_reload()
    {
        var label = Page.Locator(".chaos summary .current");
        await Assertions.Expect(label).ToHaveTextAsync("Calm");

        // The dashboard's command on the emulator's row, run as the dashboard runs it.
        var commands = Fixture.App.Services.GetRequiredService<Aspire.Hosting.ApplicationModel.ResourceCommandService>();
        var result = await commands.ExecuteCommandAsync("openai-emulator", "chaos-flaky-30", Ct);
        Assert.True(result.Success, result.Message);

        await Assertions.Expect(label).ToHaveTextAsync("Flaky 30%", new() { Timeout = 10_000 });
        await OpenChaosPanelAsync();
        await Assertions.Expect(Page.Locator(".chaos .description")).ToContainTextAsync("3 requests in 10 fail");

        // And back, over plain HTTP this time.
        (await Fixture.Emulator.DeleteAsync("/emulator/chaos", Ct)).EnsureSuccessStatusCode();
        await Assertions.Expect(label).ToHaveTextAsync("Calm", new() { Timeout = 10_000 });
        AssertNoConsoleErrors();
    }

    private async Task ChooseScenarioAsync(string name)
    {
        await OpenChaosPanelAsync();
        await Page.GetByLabel("Scenario").SelectOptionAsync(name);
        await Assertions.Expect(Page.Locator(".chaos summary .current")).ToHaveTextAsync(name);
        var profile = await Fixture.Emulator.GetFromJsonAsync<JsonElement>("/emulator/chaos", Ct);
        Assert.Equal(name, profile.GetProperty("name").GetString());
    }

    private async Task<JsonElement> StatsAsync() =>
        await Fixture.Emulator.GetFromJsonAsync<JsonElement>("/emulator/stats", Ct);

    private static string TraceIdOf(string? href)
    {
        var match = System.Text.RegularExpressions.Regex.Match(href ?? "", "/traces/detail/([0-9a-f]{32})$");
        Assert.True(match.Success, $"not a dashboard trace link: {href}");
        return match.Groups[1].Value;
    }
}
