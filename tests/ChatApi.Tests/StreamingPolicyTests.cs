namespace AspireRetry.ChatApi.Tests;

/// <summary>A stream is retried only before its first chunk; after that a failure ends it, never re-sends it.</summary>
public sealed class StreamingPolicyTests(ChatApiFixture fixture)
{
    private readonly string _caller = $"stream-{Guid.NewGuid():N}";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Failures_before_the_first_chunk_are_retried_and_reported_as_attempt_events()
    {
        await fixture.ScriptAsync(_caller, "429:retry-after-ms=60", "503", "ok");

        var events = await fixture.ClientFor(_caller).StreamAsync(ChatApiCalls.Body("Hello"), Ct);

        var attempts = events.Where(e => e.Type == "attempt").Select(e => e.Data).ToList();
        Assert.Equal([1, 2, 3], attempts.Select(a => a.GetProperty("number").GetInt32()));
        Assert.Equal([429, 503, 200], attempts.Select(a => a.GetProperty("statusCode").GetInt32()));
        Assert.Equal(60 + AspireRetry.OpenAI.Resilience.OpenAIResilience.ServerDelayMargin.TotalMilliseconds, attempts[0].GetProperty("delayMs").GetInt64());
        Assert.True(attempts[1].GetProperty("delayMs").GetInt64() >= 0);
        Assert.Equal(3, events[^1].Data.GetProperty("attempts").GetInt32());
        Assert.Equal("done", events[^1].Type);
        Assert.Equal(3, (await fixture.SeenAsync(_caller)).Count);
    }

    [Fact]
    public async Task A_mid_stream_disconnect_keeps_the_partial_text_ends_with_an_error_and_is_not_resent()
    {
        await fixture.ScriptAsync(_caller, "disconnect:after=3", "ok");

        var events = await fixture.ClientFor(_caller).StreamAsync(ChatApiCalls.Body("Tell me a long story"), Ct);

        Assert.Contains(events, e => e.Type == "delta");
        Assert.True(events[^1].Type == "error", string.Join("\n", events.Select(e => $"{e.Type} {e.Data}")));
        Assert.Equal("Stream interrupted", events[^1].Data.GetProperty("title").GetString());
        Assert.DoesNotContain(events, e => e.Type == "done");
        Assert.Single(await fixture.SeenAsync(_caller));
    }

    [Fact]
    public async Task A_stalled_stream_is_ended_by_the_idle_timeout_without_a_resend()
    {
        // One token a second against a 750 ms idle timeout.
        await fixture.ScriptAsync(_caller, "slow-stream:tps=1", "ok");

        var events = await fixture.ClientFor(_caller).StreamAsync(ChatApiCalls.Body("Hello"), Ct);

        Assert.Contains(events, e => e.Type == "delta");
        Assert.Equal("Stream stalled", events[^1].Data.GetProperty("title").GetString());
        Assert.Single(await fixture.SeenAsync(_caller));
    }
}
