using System.Net;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using AspireRetry.Contracts;

namespace AspireRetry.ChatApi.Tests;

/// <summary>
/// A bounded, seeded generator of malformed and hostile bodies for ChatApi and the emulator: none may
/// get a 5xx, and none may hang. A chat stream answers 200 before it knows how the call ends, so its
/// ending is read too: <c>done</c>, or an <c>error</c> event with a 4xx status, never a 5xx one and never
/// nothing. The seed is fixed, so a failure repeats; FUZZ_CASES raises the count.
/// </summary>
public sealed class FuzzTests(ChatApiFixture fixture)
{
    private const int Seed = 20261124;
    private static readonly int Count = int.TryParse(Environment.GetEnvironmentVariable("FUZZ_CASES"), out var n) ? n : 250;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Hostile_bodies_never_get_a_server_error_or_hang_from_ChatApi()
    {
        var client = fixture.ClientFor($"fuzz-{Guid.NewGuid():N}");
        await FuzzAsync(client, "/api/chat");
        await FuzzAsync(client, "/api/chat/stream");
    }

    [Fact]
    public async Task Hostile_bodies_never_get_a_server_error_or_hang_from_the_emulator()
    {
        using var client = new HttpClient { BaseAddress = fixture.EmulatorAddress };
        client.DefaultRequestHeaders.Authorization = new("Bearer", ChatApiFixture.ApiKey);
        client.DefaultRequestHeaders.Add("x-emulator-caller", $"fuzz-{Guid.NewGuid():N}");
        await FuzzAsync(client, "/v1/chat/completions");
    }

    private static async Task FuzzAsync(HttpClient client, string path)
    {
        var random = new Random(Seed);
        for (var i = 0; i < Count; i++)
        {
            var (kind, body) = Generate(random);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(15));
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new("application/json");
            HttpStatusCode status;
            SseItem<string>? ending = null;
            bool isChatStream;
            try
            {
                using var response = await client.PostAsync(path, content, timeout.Token);
                status = response.StatusCode;
                isChatStream = path == "/api/chat/stream" && response.Content.Headers.ContentType?.MediaType == "text/event-stream";
                if (isChatStream)
                {
                    ending = await LastEventAsync(response, timeout.Token);
                }
                else
                {
                    await response.Content.ReadAsByteArrayAsync(timeout.Token); // a body must end too
                }
            }
            catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
            {
                Assert.Fail($"{path} case {i} ({kind}) did not finish within 15 s: {Preview(body)}");
                return;
            }

            Assert.True((int)status < 500, $"{path} case {i} ({kind}) got {(int)status}: {Preview(body)}");
            if (isChatStream)
            {
                Assert.True(ending is { EventType: ChatStreamEvents.Done } || ErrorStatus(ending) is >= 400 and < 500,
                    $"{path} case {i} ({kind}) ended with {(ending is { } e ? $"{e.EventType}: {e.Data}" : "no event")}: {Preview(body)}");
            }
        }
    }

    /// <summary>The stream's last event, read to the end of the stream.</summary>
    private static async Task<SseItem<string>?> LastEventAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        SseItem<string>? last = null;
        await foreach (var item in SseParser.Create(body).EnumerateAsync(cancellationToken))
        {
            last = item;
        }

        return last;
    }

    private static int? ErrorStatus(SseItem<string>? item) =>
        item is { EventType: ChatStreamEvents.Error } error ? JsonSerializer.Deserialize<ErrorEvent>(error.Data, JsonSerializerOptions.Web)?.Status : null;

    private static string Preview(byte[] body) => Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 300));

    private static (string Kind, byte[] Body) Generate(Random random)
    {
        string Str(int max) => new([.. Enumerable.Range(0, random.Next(max)).Select(_ => (char)random.Next(0x20, 0x7f)).Where(c => c is not '"' and not '\\')]);
        string Message(string role, string content) => $$"""{"role":"{{role}}","content":{{content}}}""";
        string Valid() => $$"""{"model":"gpt-4o","messages":[{{Message("user", $"\"{Str(40)}\"")}}]}""";
        object[] wrongValues = ["1", "-1e999", "true", "null", "[]", "{}", "\"\"", "[\"a\"]", "{\"a\":1}", "1.5", "\"gpt-4o\"", "18446744073709551616"];
        string Wrong() => (string)wrongValues[random.Next(wrongValues.Length)];

        switch (random.Next(14))
        {
            case 0:
                var bytes = new byte[random.Next(1, 2000)];
                random.NextBytes(bytes);
                return ("random bytes", bytes);
            case 1:
                var depth = random.Next(10, 5000);
                return ("deep arrays", Encoding.UTF8.GetBytes($$"""{"messages":{{new string('[', depth)}}{{new string(']', depth)}}}"""));
            case 2:
                var nest = random.Next(10, 2000);
                return ("deep objects", Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"a\":", nest)) + "1" + new string('}', nest)));
            case 3:
                return ("huge string", Encoding.UTF8.GetBytes($$"""{"messages":[{{Message("user", $"\"{new string('x', random.Next(40_000, 2_000_000))}\"")}}]}"""));
            case 4:
                var control = new string([.. Enumerable.Range(0, 20).Select(_ => (char)random.Next(0, 0x20))]);
                return ("raw control characters", Encoding.UTF8.GetBytes($$"""{"messages":[{{Message("user", $"\"{control}\"")}}]}"""));
            case 5:
                return ("escaped control characters and lone surrogates", Encoding.UTF8.GetBytes($$"""{"messages":[{{Message("user", "\"\\u0000\\u0007\\ud800\\udfff x \\u202e\"")}}]}"""));
            case 6:
                return ("wrong type for messages", Encoding.UTF8.GetBytes($$"""{"model":"gpt-4o","messages":{{Wrong()}}}"""));
            case 7:
                return ("wrong type for model", Encoding.UTF8.GetBytes($$"""{"model":{{Wrong()}},"messages":[{{Message("user", "\"hi\"")}}]}"""));
            case 8:
                return ("wrong type for role or content", Encoding.UTF8.GetBytes($$"""{"messages":[{{Message(random.Next(2) == 0 ? "user" : Str(10), Wrong())}}]}"""));
            case 9:
                var valid = Valid();
                return ("truncated", Encoding.UTF8.GetBytes(valid[..random.Next(1, valid.Length)]));
            case 10:
                return ("many messages", Encoding.UTF8.GetBytes($$"""{"messages":[{{string.Join(",", Enumerable.Repeat(Message("user", "\"x\""), random.Next(100, 5000)))}}]}"""));
            case 11:
                return ("duplicate keys and extra fields", Encoding.UTF8.GetBytes($$"""{"messages":[],"messages":[{{Message("user", "\"hi\"")}}],"stream":{{Wrong()}},"max_tokens":{{Wrong()}},"n":{{Wrong()}},"__proto__":""" + "{\"x\":1}}"));
            case 12:
                return ("byte order mark and whitespace", [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes($"  \n\t{Valid()}\n  ")]);
            default:
                return ("valid", Encoding.UTF8.GetBytes(Valid()));
        }
    }
}
