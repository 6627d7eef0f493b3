using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace AspireRetry.ChatApi.Tests;

public sealed class FallbackModelTests(ChatApiFixture fixture)
{
    private const int MaxAttempts = 4;
    private readonly string _caller = $"fallback-{Guid.NewGuid():N}";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program> ApiWithFallback() =>
        fixture.CreateApi(new Dictionary<string, string?> { ["OpenAI:Resilience:FallbackModel"] = "gpt-4o-mini" });

    [Fact]
    public async Task When_the_model_stays_down_one_more_call_goes_to_the_fallback_model()
    {
        await using var api = ApiWithFallback();
        await fixture.ScriptAsync(_caller, [.. Enumerable.Repeat("503", MaxAttempts), "ok"]);

        using var response = await ChatApiFixture.ClientFor(api, _caller).PostAsJsonAsync("/api/chat", ChatApiCalls.Body("Hello"), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reply = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal("gpt-4o-mini", reply.GetProperty("model").GetString());
        Assert.Equal(MaxAttempts + 1, reply.GetProperty("attempts").GetInt32());
        Assert.Equal([.. Enumerable.Repeat("gpt-4o", MaxAttempts), "gpt-4o-mini"], (await fixture.SeenAsync(_caller)).Select(r => r.Model));
    }

    [Fact]
    public async Task A_stream_falls_back_before_its_first_chunk_and_says_which_model_answered()
    {
        await using var api = ApiWithFallback();
        await fixture.ScriptAsync(_caller, [.. Enumerable.Repeat("500", MaxAttempts), "ok"]);

        var events = await ChatApiFixture.ClientFor(api, _caller).StreamAsync(ChatApiCalls.Body("Hello"), Ct);

        Assert.Equal("done", events[^1].Type);
        Assert.Equal("gpt-4o-mini", events[^1].Data.GetProperty("model").GetString());
        Assert.Equal(Enumerable.Range(1, MaxAttempts + 1), events.Where(e => e.Type == "attempt").Select(e => e.Data.GetProperty("number").GetInt32()));
    }

    [Fact]
    public async Task A_request_the_upstream_rejects_does_not_fall_back()
    {
        await using var api = ApiWithFallback();
        await fixture.ScriptAsync(_caller, "400", "ok");

        using var response = await ChatApiFixture.ClientFor(api, _caller).PostAsJsonAsync("/api/chat", ChatApiCalls.Body("Hello"), Ct);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Single(await fixture.SeenAsync(_caller));
    }
}
