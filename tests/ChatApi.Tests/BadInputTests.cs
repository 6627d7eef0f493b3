using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace AspireRetry.ChatApi.Tests;

/// <summary>
/// Every way a chat request can be wrong gets a 400, 413 or 415 whose problem names the field or the
/// limit, before any upstream call. The same table is in the README.
/// </summary>
public sealed class BadInputTests(ChatApiFixture fixture)
{
    private readonly string _caller = $"bad-{Guid.NewGuid():N}";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // Small limits, so "too big" is cheap to send.
    private static readonly Dictionary<string, string?> Limits = new()
    {
        ["Chat:Limits:MaxMessages"] = "5",
        ["Chat:Limits:MaxMessageLength"] = "200",
        ["Chat:Limits:MaxConversationLength"] = "500",
        ["Chat:Limits:MaxRequestBodyBytes"] = "4096",
    };

    private static string Msgs(int count, int length) =>
        "[" + string.Join(",", Enumerable.Range(0, count).Select(i =>
            $$"""{"role":"{{(i % 2 == 0 ? "user" : "assistant")}}","content":"{{new string('a', length)}}"}""")) + "]";

    public static TheoryData<string, string, int, string> Cases => new()
    {
        // name, body, expected status, the field (400) or the words the detail must contain
        { "missing body", "", 400, "body" },
        { "JSON null", "null", 400, "body" },
        { "malformed JSON", """{"messages":[{"role":"user","content":"hi"}""", 400, "body" },
        { "messages missing", """{"model":"gpt-4o"}""", 400, "messages" },
        { "messages empty", """{"messages":[]}""", 400, "messages" },
        { "messages of the wrong type", """{"messages":"hello"}""", 400, "messages" },
        { "content of the wrong type", """{"messages":[{"role":"user","content":42}]}""", 400, "messages[0].content" },
        { "a message that is not an object", """{"messages":[7]}""", 400, "messages[0]" },
        { "a null message", """{"messages":[null]}""", 400, "messages[0]" },
        { "unknown role", """{"messages":[{"role":"wizard","content":"hi"}]}""", 400, "messages[0].role" },
        { "empty content", """{"messages":[{"role":"user","content":""}]}""", 400, "messages[0].content" },
        { "blank content", """{"messages":[{"role":"user","content":" \n\t "}]}""", 400, "messages[0].content" },
        { "last message not from the user", """{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}""", 400, "messages" },
        { "unknown model", """{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}""", 400, "model" },
        { "message over MaxMessageLength", $$"""{"messages":{{Msgs(1, 201)}}}""", 400, "messages[0].content" },
        { "too many messages", $$"""{"messages":{{Msgs(7, 1)}}}""", 400, "messages" },
        { "conversation over MaxConversationLength", $$"""{"messages":{{Msgs(5, 150)}}}""", 400, "messages" },
        { "JSON nested too deep", """{"messages":[{"role":"user","content":"hi","x":""" + new string('[', 40) + new string(']', 40) + "}]}", 400, "messages[0].x" },
        { "body over MaxRequestBodyBytes", $$"""{"messages":[{"role":"user","content":"{{new string('a', 5000)}}"}]}""", 413, "Chat:Limits:MaxRequestBodyBytes" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_chat_requests_are_refused_with_the_reason_before_any_upstream_call(string name, string body, int status, string named)
    {
        await using var api = fixture.CreateApi(Limits);
        foreach (var path in (string[])["/api/chat", "/api/chat/stream"])
        {
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            using var response = await ChatApiFixture.ClientFor(api, _caller).PostAsync(path, content, Ct);

            Assert.True(status == (int)response.StatusCode, $"{name} on {path}: expected {status}, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(Ct)}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
            if (status == 400)
            {
                Assert.True(problem.GetProperty("errors").TryGetProperty(named, out _), $"{name}: errors should name '{named}': {problem}");
            }
            else
            {
                Assert.Contains(named, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            }
        }

        Assert.Empty(await fixture.SeenAsync(_caller));
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData(null)]
    public async Task A_body_that_is_not_json_gets_415_saying_what_to_send(string? contentType)
    {
        using var content = new ByteArrayContent("""{"messages":[{"role":"user","content":"hi"}]}"""u8.ToArray());
        if (contentType is not null)
        {
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        }

        using var response = await fixture.ClientFor(_caller).PostAsync("/api/chat", content, Ct);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Contains("application/json", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Empty(await fixture.SeenAsync(_caller));
    }

    [Fact]
    public async Task Control_characters_and_unicode_in_content_are_passed_through_not_refused()
    {
        var text = "tab\there, bell\a, nul\0, emoji \U0001F680, rtl \u202Eabc, quote \" and backslash \\?";

        using var response = await fixture.ClientFor(_caller).PostAsJsonAsync("/api/chat", ChatApiCalls.Body(text), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(await fixture.SeenAsync(_caller));
    }

    [Fact]
    public async Task Invalid_limits_stop_start_up_naming_the_keys()
    {
        await using var api = fixture.CreateApi(new Dictionary<string, string?>
        {
            ["Chat:Limits:MaxMessageLength"] = "1000",
            ["Chat:Limits:MaxConversationLength"] = "10",
            ["Chat:RateLimit:MaxConcurrentChats"] = "0",
        });

        var error = await Assert.ThrowsAnyAsync<Exception>(() => Task.FromResult(api.CreateClient()));

        var text = error.ToString();
        Assert.Contains("Chat:Limits:MaxConversationLength", text, StringComparison.Ordinal);
    }
}
