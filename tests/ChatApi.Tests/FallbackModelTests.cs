using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AspireRetry.ChatApi.Chat;
using AspireRetry.OpenAI.Resilience;
using Microsoft.Extensions.DependencyInjection;

namespace AspireRetry.ChatApi.Tests;

public sealed class FallbackModelTests(ChatApiFixture fixture)
{
    private const int MaxAttempts = 4;
    private readonly string _caller = $"fallback-{Guid.NewGuid():N}";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program> ApiWithFallback() =>
        fixture.CreateApi(new Dictionary<string, string?> { ["OpenAI:FallbackModel"] = "gpt-4o-mini" });

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

    [Theory]
    [InlineData("ok", "ok")]
    [InlineData("500", "upstream_unavailable")]
    public async Task Plain_and_streamed_calls_that_fell_back_count_their_attempts_under_the_fallback_model(string fallbackOutcome, string outcome)
    {
        await using var api = ApiWithFallback();
        var counted = new ConcurrentQueue<(int Attempts, object? Model, object? Outcome)>();
        var ours = api.Services.GetRequiredService<IMeterFactory>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == ours && instrument.Name == ChatMetrics.AttemptsPerCall)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<int>((_, attempts, tags, _) =>
        {
            var all = tags.ToArray().ToDictionary(t => t.Key, t => t.Value);
            counted.Enqueue((attempts, all.GetValueOrDefault(RetryTelemetryConstants.Tags.Model), all.GetValueOrDefault(ChatMetrics.OutcomeTag)));
        });
        listener.Start();
        var client = ChatApiFixture.ClientFor(api, _caller);
        // The fallback model gets every attempt of its own when it fails too.
        string[] script = [.. Enumerable.Repeat("500", MaxAttempts), .. Enumerable.Repeat(fallbackOutcome, fallbackOutcome == "ok" ? 1 : MaxAttempts)];

        await fixture.ScriptAsync(_caller, script);
        using var plain = await client.PostAsJsonAsync("/api/chat", ChatApiCalls.Body("Hello"), Ct);
        await fixture.ScriptAsync(_caller, script);
        var streamed = await client.StreamAsync(ChatApiCalls.Body("Hello"), Ct);

        Assert.Equal(outcome == "ok" ? "done" : "error", streamed[^1].Type);
        (int, object?, object?) expected = (script.Length, "gpt-4o-mini", outcome);
        Assert.Equal([expected, expected], counted);
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
