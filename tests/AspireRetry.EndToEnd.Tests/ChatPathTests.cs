using System.Net;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text.Json;
using AspireRetry.Contracts;
using AspireRetry.WebFrontend.Services;
using Aspire.Hosting.Testing;
using ChatTurn = AspireRetry.Contracts.ChatMessageDto;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>The path of one chat message through the running Aspire application.</summary>
public sealed class ChatPathTests(AspireAppFixture fixture)
{
    private readonly string _caller = $"e2e-{Guid.NewGuid():N}";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static object Body(string text) => new { model = "gpt-4o", messages = new[] { new { role = "user", content = text } } };

    [Fact]
    public async Task A_plain_message_to_ChatApi_is_answered_by_the_emulator()
    {
        using var response = await fixture.ChatApiFor(_caller).PostAsJsonAsync("/api/chat", Body("What does Aspire orchestrate?"), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reply = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Contains("What does Aspire orchestrate?", reply.GetProperty("content").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, reply.GetProperty("attempts").GetInt32());
        Assert.Equal(1, await fixture.UpstreamRequestsAsync(_caller));
    }

    [Fact]
    public async Task A_streamed_message_to_ChatApi_arrives_in_deltas_and_ends_with_done()
    {
        using var response = await fixture.ChatApiFor(_caller).PostAsJsonAsync("/api/chat/stream", Body("Explain backoff"), Ct);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);

        var items = new List<SseItem<string>>();
        await foreach (var item in SseParser.Create(await response.Content.ReadAsStreamAsync(Ct)).EnumerateAsync(Ct))
        {
            items.Add(item);
        }

        var text = string.Concat(items.Where(i => i.EventType == "delta").Select(i => JsonDocument.Parse(i.Data).RootElement.GetProperty("text").GetString()));
        Assert.Contains("Explain backoff", text, StringComparison.Ordinal);
        Assert.Equal("done", items[^1].EventType);
    }

    [Fact]
    public async Task The_chat_page_is_served_by_the_frontend()
    {
        using var web = fixture.App.CreateHttpClient("webfrontend", "http");

        var html = await web.GetStringAsync("/", Ct);

        Assert.Contains("<title>AspireRetry chat</title>", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_permanently_failing_upstream_costs_max_retries_plus_one_requests_through_the_frontends_client()
    {
        const int attempts = AspireAppFixture.MaxRetryAttempts + 1;
        await fixture.ScriptAsync(_caller, [.. Enumerable.Repeat("503", attempts + 3)]);
        var client = new ChatApiClient(fixture.ChatApiFor(_caller));

        var events = new List<ChatStreamEvent>();
        await foreach (var e in client.StreamAsync("gpt-4o", [new ChatTurn("user", "Hello")], Ct))
        {
            events.Add(e);
        }

        var error = Assert.IsType<ErrorEvent>(events[^1]);
        Assert.Equal(503, error.Status);
        Assert.Equal(attempts, error.Attempts);
        Assert.Equal(attempts, events.OfType<AttemptEvent>().Count());
        Assert.Equal(attempts, await fixture.UpstreamRequestsAsync(_caller));
    }
}
