using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using AspireRetry.ChatApi.Chat;
using AspireRetry.Contracts;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection;

namespace AspireRetry.ChatApi.Tests;

/// <summary>ChatApi writes its stream itself, to batch flushes; on the wire it must be exactly what ASP.NET Core's SSE result writes.</summary>
public sealed class ChatEventStreamTests
{
    private static readonly SseItem<object>[] Events =
    [
        new(new StartEvent("0af7651916cd43dd8448eb211c80319c", "gpt-4o", 4), ChatStreamEvents.Start),
        new(new AttemptEvent(1, "429", 429, "429 rate_limit_exceeded", 1200), ChatStreamEvents.Attempt),
        new(new DeltaEvent("Line one\nline \"two\" <b>&</b> é 🚀\r\n"), ChatStreamEvents.Delta),
        new(new DeltaEvent(" and more"), ChatStreamEvents.Delta),
        new(new DoneEvent(2, "gpt-4o-2024-08-06", new UsageDto(12, 34), null), ChatStreamEvents.Done),
        new(new ErrorEvent(502, "Stream interrupted", "It broke.", null, 2, "0af7651916cd43dd8448eb211c80319c"), ChatStreamEvents.Error),
    ];

    [Fact]
    public async Task Chat_stream_writes_the_same_bytes_and_headers_as_the_framework_sse_result()
    {
        var expected = await RunAsync(events => TypedResults.ServerSentEvents(events));
        var actual = await RunAsync(events => new ChatEventStreamResult(events));

        Assert.Equal(expected.Body, actual.Body);
        Assert.Equal(expected.Headers, actual.Headers);
    }

    private static async Task<(string Body, string Headers)> RunAsync(Func<IAsyncEnumerable<SseItem<object>>, IResult> result)
    {
        var services = new ServiceCollection().AddLogging().AddOptions().BuildServiceProvider();
        using var body = new MemoryStream();
        var http = new DefaultHttpContext { RequestServices = services };
        http.Response.Body = body;
        await result(SlowlyAsync(TestContext.Current.CancellationToken)).ExecuteAsync(http);
        await http.Response.BodyWriter.FlushAsync(TestContext.Current.CancellationToken);
        var headers = string.Join("; ", http.Response.Headers.OrderBy(h => h.Key).Select(h => $"{h.Key}={h.Value}"));
        return (System.Text.Encoding.UTF8.GetString(body.ToArray()), headers);
    }

    // Some events ready together, some after a wait: both the batched and the flushed path are taken.
    private static async IAsyncEnumerable<SseItem<object>> SlowlyAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var i = 0; i < Events.Length; i++)
        {
            if (i % 2 == 0)
            {
                await Task.Delay(5, cancellationToken);
            }

            yield return Events[i];
        }
    }
}
