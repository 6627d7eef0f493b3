using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting.Testing;
using Microsoft.Playwright;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>
/// What a person keeps and what they see in the dashboard over a whole conversation: one trace per
/// message, the conversation surviving a reload, and a long conversation costing no more per streamed
/// delta than a short one.
/// </summary>
public sealed class ConversationTests(AspireAppFixture fixture) : ChatPageTest(fixture)
{
    private ILocator Replies => Page.Locator("article.assistant");

    private async Task ReloadAsync()
    {
        await Page.ReloadAsync();
        await WaitInteractiveAsync();
    }

    /// <summary>Sends a message and waits for its reply's footer (the reply is finished).</summary>
    private async Task ChatAsync(string text, string attempts = "1 attempt")
    {
        var before = await Replies.CountAsync();
        await SendAsync(text);
        await Assertions.Expect(Replies).ToHaveCountAsync(before + 1);
        await Assertions.Expect(Replies.Last.Locator(".meta .attempts")).ToHaveTextAsync(attempts, new() { Timeout = 15_000 });

        // The footer shows at the reply's last event; the page's handler then saves the conversation and ends, and with
        // it the message's span. A reload before that leaves the handler waiting on the gone page's storage for a
        // minute, its span unended and unexported: the trace list then showed its POST as a root instead of the message.
        await Assertions.Expect(Page.Locator("button.stop")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task Three_messages_and_a_reload_leave_one_trace_per_message_and_the_newest_shows_its_attempts()
    {
        var dashboard = await DashboardTelemetry.ConnectAsync(Fixture.App, AspireAppFixture.DashboardApiKey, Ct);
        var since = UnixNanosNow();

        await ChatAsync("First question");
        await ChatAsync("Second question");
        await ReloadAsync();
        await Assertions.Expect(Replies).ToHaveCountAsync(2);
        await QueueScriptAsync("503:retry-after-ms=100, ok");
        await ChatAsync("Third question, retried once", "2 attempts");
        var newestLink = await Replies.Last.GetByRole(AriaRole.Link, new() { Name = "View trace" }).GetAttributeAsync("href");

        // The dashboard's Traces page for webfrontend, from the start of this test: the three messages,
        // the reload and the chaos action the person took; not one trace per render, probe or keystroke.
        var roots = await WaitForRootsAsync(dashboard, since, r => r.Count(IsMessage) == 3);
        var names = string.Join(", ", roots.Select(r => r.Name));
        // A message answered after a retry says so in its name, and its span is Ok: told apart from a failed one at a glance.
        Assert.Equal(["Chat message 1 (gpt-4o)", "Chat message 2 (gpt-4o)", "Chat message 3 (gpt-4o) - 2 attempts"],
            roots.Where(IsMessage).Select(r => r.Name));
        // Beyond the messages: the reload and the chaos action ("Chaos: queue ...").
        Assert.True(roots.Count <= 3 + 2, $"webfrontend traces beyond one per message: {names}");
        Assert.Contains(roots, r => r.Name == "Chaos: queue 503:retry-after-ms=100, ok");
        Assert.DoesNotContain(roots, r => r.Name.Contains("ComponentHub", StringComparison.Ordinal) || r.Name.StartsWith("Route ", StringComparison.Ordinal));

        var newest = roots.MaxBy(r => r.StartTimeUnixNano)!;
        Assert.Equal("Chat message 3 (gpt-4o) - 2 attempts", newest.Name);
        Assert.Equal(Span.StatusOk, newest.StatusCode);
        Assert.EndsWith($"/traces/detail/{newest.TraceId}", newestLink, StringComparison.Ordinal);
        var trace = await dashboard.WaitForTraceAsync(newest.TraceId, s => s.Count(x => x.IsUpstreamAttempt) == 2
            && s.Count(x => x.Service == "openai-emulator" && x.Kind == Span.KindServer) == 2
            && s.Any(x => x.Name == "chat gpt-4o") && s.Any(x => x.Service == "chatapi" && x.Kind == Span.KindServer), Ct);
        var genAi = Assert.Single(trace, s => s.Name == "chat gpt-4o");
        Assert.All(trace.Where(x => x.IsUpstreamAttempt), a => Assert.Equal(genAi.SpanId, a.ParentSpanId));
        Assert.Contains(trace, s => s.Service == "chatapi" && s.Kind == Span.KindServer && s.Name == "POST /api/chat/stream");
        Assert.DoesNotContain(trace, s => s.Name.Contains("/emulator/", StringComparison.Ordinal)); // stage directions stay out
        AssertNoConsoleErrors();

        // The README's way in: the dashboard's Traces page, the message's trace, its attempts.
        var traces = await Page.Context.NewPageAsync();
        await traces.SetViewportSizeAsync(1400, 900);
        await traces.GotoAsync((await Fixture.App.GetDashboardUrlAsync(Ct))!.ToString());
        await traces.GotoAsync(new Uri(dashboard.BaseAddress, "/traces/resource/webfrontend").ToString());
        var row = traces.GetByRole(AriaRole.Row).Filter(new() { HasText = "Chat message 3 (gpt-4o) - 2 attempts" });
        await Assertions.Expect(row).ToHaveCountAsync(1, new() { Timeout = 15_000 });
        await Assertions.Expect(traces.GetByRole(AriaRole.Row).Filter(new() { HasText = "ComponentHub" })).ToHaveCountAsync(0);
        await traces.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("dashboard-traces.png") });
        await row.GetByText("Chat message 3 (gpt-4o) - 2 attempts").First.ClickAsync();
        await Assertions.Expect(traces).ToHaveURLAsync(new System.Text.RegularExpressions.Regex($"/traces/detail/{newest.TraceId}"));
        await Assertions.Expect(traces.GetByText(new System.Text.RegularExpressions.Regex("^HTTP POST \\d{3}$"))).ToHaveTextAsync(["HTTP POST 200", "HTTP POST 503", "HTTP POST 200"]);
    }

    [Fact]
    public async Task Every_control_on_the_page_makes_at_most_one_trace_named_for_what_the_person_did()
    {
        var dashboard = await DashboardTelemetry.ConnectAsync(Fixture.App, AspireAppFixture.DashboardApiKey, Ct);
        var since = UnixNanosNow();

        await Page.Locator("#model").SelectOptionAsync("gpt-4o-mini");
        await Page.Locator("#prompt").PressSequentiallyAsync("typed, never sent");
        await Page.GetByRole(AriaRole.Button, new() { Name = "New chat" }).ClickAsync();
        await OpenChaosPanelAsync();
        await Page.Locator("#model").SelectOptionAsync("gpt-4o");

        // The README: messages, page loads, chaos actions, Stop, New chat and the model; nothing per keystroke or binder.
        var roots = await WaitForRootsAsync(dashboard, since, r => r.Count(s => s.Name.StartsWith("Model: ", StringComparison.Ordinal)) == 2 && r.Any(s => s.Name == "New chat"));
        Assert.Equal(["Model: gpt-4o-mini", "New chat", "Model: gpt-4o"], roots.Select(r => r.Name));
    }

    [Fact]
    public async Task A_reload_restores_text_attempts_and_trace_links_and_New_chat_clears_it_with_an_undo()
    {
        await QueueScriptAsync("429:retry-after-ms=100, ok");
        await ChatAsync("Remember me", "2 attempts");
        var footer = await Replies.Last.Locator(".meta > *").AllInnerTextsAsync();
        var link = await Replies.Last.GetByRole(AriaRole.Link, new() { Name = "View trace" }).GetAttributeAsync("href");

        await ReloadAsync();

        await Assertions.Expect(Page.Locator("article.user")).ToHaveTextAsync(["Remember me"]);
        await Assertions.Expect(Replies).ToHaveCountAsync(1);
        await Assertions.Expect(Replies.Last.Locator(".markdown")).ToContainTextAsync("Remember me");
        await Assertions.Expect(Replies.Last.Locator(".meta > *")).ToHaveTextAsync([.. footer]); // attempts, waited, total, tokens, model, link
        // At least the 100 ms Retry-After, shown to a tenth of a second; a busy machine may add gate time on top.
        var waited = Assert.Single(footer, f => f.StartsWith("waited ", StringComparison.Ordinal));
        Assert.InRange(double.Parse(waited["waited ".Length..^" s".Length], System.Globalization.CultureInfo.InvariantCulture), 0.1, 5);
        Assert.Equal(link, await Replies.Last.GetByRole(AriaRole.Link, new() { Name = "View trace" }).GetAttributeAsync("href"));

        // The restored turns are the history the model sees with the next message.
        await ChatAsync("And now?");
        await Assertions.Expect(Replies.Last.Locator(".markdown")).ToContainTextAsync("The conversation has 3 messages");
        await Assertions.Expect(Page.Locator(".meta .gone")).ToHaveCountAsync(0); // this run's traces are in the dashboard

        // Saved in an earlier run of the app (another run id): the dashboard no longer has those traces, and the page says so.
        await Page.EvaluateAsync("key => localStorage.setItem(key, localStorage.getItem(key).replace(/\"run\":\"[0-9a-f]+\"/g, '\"run\":\"an-earlier-run\"'))",
            "aspireretry.conversation");
        await ReloadAsync();
        await Assertions.Expect(Replies.Last.Locator(".meta .gone")).ToHaveTextAsync("from an earlier run: the dashboard keeps traces only while the app runs");

        var before = await Page.Locator("article").CountAsync();
        await Page.GetByRole(AriaRole.Button, new() { Name = "New chat" }).ClickAsync();
        await Assertions.Expect(Page.Locator("article")).ToHaveCountAsync(0);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Undo" }).ClickAsync(); // New chat can be taken back
        await Assertions.Expect(Page.Locator("article")).ToHaveCountAsync(before);
        await Assertions.Expect(Page.GetByRole(AriaRole.Button, new() { Name = "Undo" })).ToHaveCountAsync(0);
        await Page.GetByRole(AriaRole.Button, new() { Name = "New chat" }).ClickAsync();
        await Assertions.Expect(Page.Locator("article")).ToHaveCountAsync(0);
        await ReloadAsync();
        await Assertions.Expect(Page.Locator(".messages .empty")).ToBeVisibleAsync();
        await Assertions.Expect(Page.Locator("article")).ToHaveCountAsync(0);
        AssertNoConsoleErrors();
    }

    [Fact]
    public async Task A_reply_streaming_when_thePage_reloads_comes_back_once_marked_interrupted()
    {
        (await Fixture.Emulator.PutAsJsonAsync("/emulator/chaos", new { name = "Slow stream", tokensPerSecond = 4 }, Ct)).EnsureSuccessStatusCode();
        await Page.GetByLabel("Message").FillAsync("Please tell me, at length and in detail, how a retry budget works?");
        await Page.GetByLabel("Message").PressAsync("Enter");
        await Assertions.Expect(Replies.Last.Locator(".markdown")).ToContainTextAsync("You asked", new() { Timeout = 10_000 });
        var partial = await Replies.Last.Locator(".markdown").InnerTextAsync();

        await ReloadAsync();

        await Assertions.Expect(Replies).ToHaveCountAsync(1);
        await Assertions.Expect(Page.Locator("article.user")).ToHaveCountAsync(1);
        await Assertions.Expect(Replies.Last.Locator(".marker.interrupted")).ToContainTextAsync("Interrupted: the page was reloaded or closed while this reply was streaming.");
        var kept = await Replies.Last.Locator(".markdown").InnerTextAsync();
        Assert.StartsWith("You", kept, StringComparison.Ordinal);
        Assert.True(partial.StartsWith(kept, StringComparison.Ordinal) || kept.StartsWith(partial, StringComparison.Ordinal), $"kept '{kept}', saw '{partial}'");
        Assert.DoesNotContain("I am not a real model", kept, StringComparison.Ordinal); // never the whole reply: it was cut

        // It stays interrupted (never resumed or sent again) and is not part of the next message's history.
        (await Fixture.Emulator.DeleteAsync("/emulator/chaos", Ct)).EnsureSuccessStatusCode();
        await ChatAsync("Next one");
        await Assertions.Expect(Replies.Last.Locator(".markdown")).ToContainTextAsync("The conversation has 2 messages");
        await ReloadAsync();
        await Assertions.Expect(Replies).ToHaveCountAsync(2);
        await Assertions.Expect(Page.Locator(".marker.interrupted")).ToHaveCountAsync(1);
        AssertNoConsoleErrors();
    }

    [Fact]
    public async Task Streaming_a_reply_in_a_200_message_conversation_re_renders_no_finished_message()
    {
        // 200 finished messages, saved in the browser the way the page saves them, restored on load.
        var entries = Enumerable.Range(0, 200).Select(i => i % 2 == 0
            ? new { role = "user", text = $"Question {i / 2}", attempts = 0 }
            : new { role = "assistant", text = $"**Answer {i / 2}**, with `code` and a [link](https://example.com).\n\n- one\n- two", attempts = 1 });
        var saved = JsonSerializer.Serialize(new { version = 1, entries });
        await Page.EvaluateAsync("([key, value]) => localStorage.setItem(key, value)", new[] { "aspireretry.conversation", saved });
        await ReloadAsync();
        await Assertions.Expect(Page.Locator("article")).ToHaveCountAsync(200);
        var before = await RenderCountsAsync();

        await ChatAsync("A question at the end of a long conversation");

        var after = await RenderCountsAsync();
        Assert.Equal(202, after.Count);
        var rerendered = Enumerable.Range(0, 200).Where(i => after[i] != before[i]).ToList();
        Assert.True(rerendered.Count == 0, $"finished messages re-rendered while a reply streamed: {string.Join(", ", rerendered.Take(10))}");
        Assert.True(after[201] > 3, $"the streamed reply rendered {after[201]} times: the counter does not see the deltas");
        AssertNoConsoleErrors();
    }

    private async Task<List<int>> RenderCountsAsync() =>
        [.. (await Page.Locator("article").EvaluateAllAsync<string[]>("all => all.map(a => a.dataset.renders)"))
            .Select(r => int.Parse(r, CultureInfo.InvariantCulture))];

    private async Task QueueScriptAsync(string outcomes)
    {
        await OpenChaosPanelAsync();

        await Page.GetByLabel("Script your next outcomes").FillAsync(outcomes);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Queue" }).ClickAsync();
        await Assertions.Expect(Page.Locator(".chaos .queued")).ToHaveTextAsync($"Your next requests will get: {outcomes}");
    }

    private static bool IsMessage(Span root) => root.Name.StartsWith("Chat message ", StringComparison.Ordinal);

    private static ulong UnixNanosNow() => (ulong)(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000);

    /// <summary>The top spans of webfrontend's traces that started after <paramref name="since"/>, oldest first, once <paramref name="complete"/> holds.</summary>
    private static async Task<List<Span>> WaitForRootsAsync(DashboardTelemetry dashboard, ulong since, Func<List<Span>, bool> complete)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        List<Span> roots = [];
        while (DateTime.UtcNow < deadline)
        {
            // A trace as the dashboard lists it: its top span, whether a true root or an orphan whose
            // parent was never exported (which the Traces page lists all the same).
            roots = [.. (await dashboard.SpansAsync("webfrontend", Ct))
                .Where(s => s.StartTimeUnixNano >= since)
                .GroupBy(s => s.TraceId)
                .Select(trace => trace.Where(s => s.ParentSpanId is null || trace.All(p => p.SpanId != s.ParentSpanId)).MinBy(s => s.StartTimeUnixNano)!)
                .OrderBy(s => s.StartTimeUnixNano)];
            if (complete(roots))
            {
                return roots;
            }

            await Task.Delay(250, Ct);
        }

        Assert.Fail($"webfrontend's traces were not complete in the dashboard within 30 s: {string.Join(", ", roots.Select(r => r.Name))}");
        return roots;
    }

}
