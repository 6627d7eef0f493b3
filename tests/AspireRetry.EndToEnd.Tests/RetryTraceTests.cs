using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>
/// What a person sees in the dashboard for one message that needed retries: one trace, the GenAI span,
/// one HTTP client span per attempt under it, and the emulator's side of each attempt.
/// </summary>
public sealed class RetryTraceTests(AspireAppFixture fixture)
{
    private readonly string _caller = $"trace-{Guid.NewGuid():N}";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Sends one message that meets 429 (retry-after-ms=200), then 503, then succeeds; returns its trace.</summary>
    private async Task<(string TraceId, List<Span> Spans)> RetriedMessageTraceAsync(DashboardTelemetry dashboard)
    {
        await fixture.ScriptAsync(_caller, "429:retry-after-ms=200", "503", "ok");
        using var response = await fixture.ChatApiFor(_caller).PostAsJsonAsync("/api/chat",
            new { model = "gpt-4o", messages = new[] { new { role = "user", content = "Show me the retries" } } }, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var traceId = (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("traceId").GetString()!;

        var spans = await dashboard.WaitForTraceAsync(traceId, s =>
            s.Count(x => x.Service == "openai-emulator" && x.Kind == Span.KindServer) == 3
            && s.Count(x => x.IsUpstreamAttempt) == 3
            && s.Any(x => x.Name.StartsWith("chat ", StringComparison.Ordinal)), Ct);
        return (traceId, spans);
    }

    [Fact]
    public async Task A_retried_message_is_one_trace_with_each_attempt_under_the_genai_span()
    {
        var dashboard = await DashboardTelemetry.ConnectAsync(fixture.App, AspireAppFixture.DashboardApiKey, Ct);

        var (traceId, spans) = await RetriedMessageTraceAsync(dashboard);

        Assert.All(spans, s => Assert.Equal(traceId, s.TraceId));
        Assert.Contains(spans, s => s.Service == "chatapi" && s.Kind == Span.KindServer && s.Name == "POST /api/chat");

        var genAi = Assert.Single(spans, s => s.Service == "chatapi" && s.Name == "chat gpt-4o");
        Assert.Equal("chat", genAi.Attr("gen_ai.operation.name"));
        Assert.Equal("openai", genAi.Attr("gen_ai.provider.name"));
        Assert.Equal("gpt-4o", genAi.Attr("gen_ai.request.model"));
        Assert.Equal("gpt-4o", genAi.Attr("gen_ai.response.model"));
        Assert.True(int.Parse(genAi.Attr("gen_ai.usage.input_tokens")!, CultureInfo.InvariantCulture) > 0);
        Assert.True(int.Parse(genAi.Attr("gen_ai.usage.output_tokens")!, CultureInfo.InvariantCulture) > 0);

        var attempts = spans.Where(x => x.IsUpstreamAttempt).OrderBy(s => s.StartTimeUnixNano).ToList();
        Assert.Equal(3, attempts.Count);
        Assert.All(attempts, a => Assert.Equal(genAi.SpanId, a.ParentSpanId));
        Assert.Equal(["429", "503", "200"], attempts.Select(a => a.Attr("http.response.status_code")));
        Assert.Equal([null, "1", "2"], attempts.Select(a => a.Attr("http.request.resend_count")));
        Assert.Equal([Span.StatusError, Span.StatusError], attempts.Take(2).Select(a => a.StatusCode));
        Assert.NotEqual(Span.StatusError, attempts[2].StatusCode);
        Assert.Equal([null, "429 rate_limit_exceeded", "503"], attempts.Select(a => a.Attr("retry.previous_outcome")));

        var retries = genAi.Events.Where(e => e.Name == "retry").ToList();
        Assert.Equal(2, retries.Count);
        Assert.True(long.Parse(retries[0].Attributes["retry.delay_ms"], CultureInfo.InvariantCulture) >= 200, "the first retry waited the server's 200 ms");
        Assert.Equal("429 rate_limit_exceeded", retries[0].Attributes["retry.reason"]);
        Assert.Equal("503", retries[1].Attributes["retry.reason"]);

        var upstream = spans.Where(s => s.Service == "openai-emulator" && s.Kind == Span.KindServer).OrderBy(s => s.StartTimeUnixNano).ToList();
        Assert.Equal(["rate_limit", "service_unavailable", "none"], upstream.Select(s => s.Attr("emulator.fault")));
        Assert.Equal(attempts.Select(a => a.SpanId), upstream.Select(s => s.ParentSpanId));
    }

    [Fact]
    public async Task Polly_retry_warnings_are_logged_with_the_trace_id()
    {
        var dashboard = await DashboardTelemetry.ConnectAsync(fixture.App, AspireAppFixture.DashboardApiKey, Ct);
        var (traceId, _) = await RetriedMessageTraceAsync(dashboard);

        var logs = await dashboard.RawAsync($"/api/telemetry/logs?resource=chatapi&traceId={traceId}", Ct);

        Assert.Contains("OnRetry", logs, StringComparison.Ordinal);
        Assert.Contains("\"Polly\"", logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_dashboard_trace_page_shows_the_three_attempts()
    {
        var dashboard = await DashboardTelemetry.ConnectAsync(fixture.App, AspireAppFixture.DashboardApiKey, Ct);
        var (traceId, _) = await RetriedMessageTraceAsync(dashboard);
        var page = await Browser.NewPageAsync(1400, 900);

        await page.GotoAsync((await Aspire.Hosting.Testing.DistributedApplicationHostingTestingExtensions.GetDashboardUrlAsync(fixture.App, Ct))!.ToString());
        // Where a newcomer lands: the Resources page, with the chat page one click away.
        foreach (var resource in (string[])["openai-emulator", "chatapi", "webfrontend"])
        {
            await Microsoft.Playwright.Assertions.Expect(page.GetByText(resource, new() { Exact = true }).First).ToBeVisibleAsync(new() { Timeout = 15_000 });
        }

        await Microsoft.Playwright.Assertions.Expect(page.GetByRole(Microsoft.Playwright.AriaRole.Link, new() { Name = "Chat" }).First).ToBeVisibleAsync();
        // No red "No trusted development certificate" banner: nothing here serves TLS (these machines have no trusted certificate).
        await Microsoft.Playwright.Assertions.Expect(page.GetByText("development certificate")).ToHaveCountAsync(0);
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("dashboard-resources.png") });

        await page.GotoAsync(new Uri(dashboard.BaseAddress, $"/traces/detail/{traceId}").ToString());
        await Microsoft.Playwright.Assertions.Expect(page.GetByText("chat gpt-4o").First).ToBeVisibleAsync(new() { Timeout = 15_000 });
        // One row per attempt, named by its outcome, in the order they happened.
        var attempts = page.GetByText(new System.Text.RegularExpressions.Regex("^HTTP POST \\d{3}$"));
        await Microsoft.Playwright.Assertions.Expect(attempts).ToHaveTextAsync(["HTTP POST 429", "HTTP POST 503", "HTTP POST 200"]);
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("dashboard-retry-trace.png"), FullPage = true });
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task The_genai_view_of_the_chat_span_shows_the_conversation_and_its_tokens()
    {
        var dashboard = await DashboardTelemetry.ConnectAsync(fixture.App, AspireAppFixture.DashboardApiKey, Ct);
        var (traceId, spans) = await RetriedMessageTraceAsync(dashboard);
        var genAi = Assert.Single(spans, s => s.Name == "chat gpt-4o");
        var tokens = int.Parse(genAi.Attr("gen_ai.usage.input_tokens")!, CultureInfo.InvariantCulture)
            + int.Parse(genAi.Attr("gen_ai.usage.output_tokens")!, CultureInfo.InvariantCulture);
        var page = await Browser.NewPageAsync(1400, 900);
        await page.GotoAsync((await Aspire.Hosting.Testing.DistributedApplicationHostingTestingExtensions.GetDashboardUrlAsync(fixture.App, Ct))!.ToString());

        await page.GotoAsync(new Uri(dashboard.BaseAddress, $"/traces/detail/{traceId}").ToString());
        var row = page.GetByRole(Microsoft.Playwright.AriaRole.Row).Filter(new() { HasText = "chat gpt-4o" }).First;
        await row.GetByTitle("GenAI details").ClickAsync(new() { Timeout = 15_000 }); // the sparkle

        var view = page.Locator("fluent-dialog, [role=dialog]").Filter(new() { HasText = "Input & output" });
        await Microsoft.Playwright.Assertions.Expect(view.GetByText("Show me the retries").First).ToBeVisibleAsync(); // the user's message (Development)
        await Microsoft.Playwright.Assertions.Expect(view.GetByText("You asked: \"Show me the retries\"").First).ToBeVisibleAsync(); // the reply
        await Microsoft.Playwright.Assertions.Expect(view).ToContainTextAsync($"Tokens {tokens}");
        await page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("dashboard-genai-view.png") });
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task The_api_key_appears_in_no_exported_span_or_log()
    {
        var connection = await Aspire.Hosting.Testing.DistributedApplicationHostingTestingExtensions.GetConnectionStringAsync(fixture.App, "openai", Ct);
        var key = System.Text.RegularExpressions.Regex.Match(connection!, "Key=([^;]+)").Groups[1].Value;
        Assert.True(key.Length >= 16, "the emulator's generated key should be a real secret");
        var dashboard = await DashboardTelemetry.ConnectAsync(fixture.App, AspireAppFixture.DashboardApiKey, Ct);
        // A retried call, and one the upstream rejects as unauthorized: the paths where a careless app logs its key.
        await RetriedMessageTraceAsync(dashboard);
        await fixture.ScriptAsync(_caller, "401");
        using (await fixture.ChatApiFor(_caller).PostAsJsonAsync("/api/chat", new { messages = new[] { new { role = "user", content = "hi" } } }, Ct))
        {
        }

        // And a message sent from the chat page, so webfrontend has spans of a chat to search as well.
        var chat = await Browser.NewPageAsync();
        await chat.GotoAsync(Aspire.Hosting.Testing.DistributedApplicationHostingTestingExtensions.GetEndpoint(fixture.App, "webfrontend", "http").ToString());
        await chat.Locator(".chat[data-interactive=true]").WaitForAsync();
        await chat.GetByLabel("Message").FillAsync("Is my key safe?");
        await chat.GetByLabel("Message").PressAsync("Enter");
        await Microsoft.Playwright.Assertions.Expect(chat.Locator("article.assistant .meta .attempts")).ToHaveTextAsync("1 attempt", new() { Timeout = 15_000 });

        // The page stays open until the message's span is exported: closed as soon as the reply showed, its circuit could
        // be torn down before the event handler ended, and the span never ended (seen once in CI, on a loaded machine).
        await Poll.UntilAsync(TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(250), async () => (await dashboard.SpansAsync("webfrontend", Ct)).Any(s => s.Name.StartsWith("Chat message", StringComparison.Ordinal)));
        await chat.Context.CloseAsync();

        foreach (var resource in (string[])["chatapi", "openai-emulator", "webfrontend"])
        {
            var spans = await dashboard.RawAsync($"/api/telemetry/spans?resource={resource}&limit=10000", Ct);
            var logs = await dashboard.RawAsync($"/api/telemetry/logs?resource={resource}&limit=10000", Ct);
            Assert.True(spans.Length > 100, $"expected spans from {resource}");
            Assert.True(logs.Length > 100, $"expected logs from {resource}");
            Assert.DoesNotContain(key, spans, StringComparison.Ordinal);
            Assert.DoesNotContain(key, logs, StringComparison.Ordinal);
        }
    }
}
