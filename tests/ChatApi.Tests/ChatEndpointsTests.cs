using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace AspireRetry.ChatApi.Tests;

public sealed class ChatEndpointsTests(ChatApiFixture fixture)
{
    private readonly string _caller = $"endpoints-{Guid.NewGuid():N}";

    [Fact]
    public async Task Models_come_from_configuration_with_the_first_as_default()
    {
        var models = await fixture.ClientFor(_caller).GetFromJsonAsync<JsonElement>("/api/models", TestContext.Current.CancellationToken);

        Assert.Equal(["gpt-4o", "gpt-4o-mini"], models.GetProperty("models").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal("gpt-4o", models.GetProperty("defaultModel").GetString());
    }

    [Fact]
    public async Task Plain_chat_returns_the_emulators_answer_about_the_question()
    {
        using var response = await fixture.ClientFor(_caller).PostAsJsonAsync("/api/chat",
            ChatApiCalls.Body("Why do retries need jitter?", "gpt-4o-mini"), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reply = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.Contains("jitter", reply.GetProperty("content").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal("gpt-4o-mini", reply.GetProperty("model").GetString());
        Assert.Equal(1, reply.GetProperty("attempts").GetInt32());
        Assert.Matches("^[0-9a-f]{32}$", reply.GetProperty("traceId").GetString());
        Assert.True(reply.GetProperty("usage").GetProperty("outputTokens").GetInt64() > 0);
        Assert.Single(await fixture.SeenAsync(_caller));
    }

    [Fact]
    public async Task Streamed_chat_sends_start_then_the_text_in_deltas_then_done()
    {
        var events = await fixture.ClientFor(_caller).StreamAsync(ChatApiCalls.Body("What is a circuit breaker?"), TestContext.Current.CancellationToken);

        Assert.Equal("start", events[0].Type);
        Assert.Equal("done", events[^1].Type);
        var deltas = events.Where(e => e.Type == "delta").ToList();
        Assert.True(deltas.Count > 1, "the reply should arrive in several chunks");
        Assert.Contains("circuit breaker", string.Concat(deltas.Select(d => d.Data.GetProperty("text").GetString())), StringComparison.OrdinalIgnoreCase);
        var done = events[^1].Data;
        Assert.Equal(1, done.GetProperty("attempts").GetInt32());
        Assert.True(done.GetProperty("usage").GetProperty("inputTokens").GetInt64() > 0);
        Assert.Equal(events[0].Data.GetProperty("traceId").GetString(), done.GetProperty("traceId").GetString());
    }

    [Fact]
    public async Task With_sdk_retries_off_two_upstream_failures_cost_three_requests_not_twelve()
    {
        await fixture.ScriptAsync(_caller, "500", "503", "ok");

        using var response = await fixture.ClientFor(_caller).PostAsJsonAsync("/api/chat", ChatApiCalls.Body("Hello"), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reply = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.Equal(3, reply.GetProperty("attempts").GetInt32());
        Assert.Equal(["server_error", "service_unavailable", "ok"], (await fixture.SeenAsync(_caller)).Select(r => r.Outcome));
    }

    [Theory]
    [InlineData("""{"messages":[]}""", "messages")]
    [InlineData("""{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}""", "model")]
    [InlineData("""{"messages":[{"role":"wizard","content":"hi"}]}""", "messages[0].role")]
    [InlineData("""{"messages":[{"role":"user","content":"  "}]}""", "messages[0].content")]
    public async Task Invalid_requests_get_400_naming_the_field_and_never_reach_the_upstream(string body, string field)
    {
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using var response = await fixture.ClientFor(_caller).PostAsync("/api/chat/stream", content, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"errors should name '{field}': {problem}");
        Assert.Empty(await fixture.SeenAsync(_caller));
    }
}
