using System.Net;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenAI.Chat;

namespace AspireRetry.Bench.Overhead;

/// <summary>
/// The least a streaming chat proxy that must use the official OpenAI SDK can do, as the load run's floor for any such
/// proxy: Kestrel on a loopback socket, one endpoint that reads the request's JSON, asks the SDK for the streamed
/// completion (no retries, no gate, no telemetry, no Microsoft.Extensions.AI, no validation, no logging) and writes its
/// text back with ASP.NET Core's own server-sent events result, chunks that arrived together as one event (at most 16, as
/// ChatApi does), then a <c>done</c> event (<c>POST /stream</c>). What this row costs beyond the SDK-only row is the price of any
/// proxy on this machine (the second socket hop, the server, the events). <c>POST /stream-ai</c> is the same, reading through
/// Microsoft.Extensions.AI's <see cref="IChatClient"/> for the SDK (<c>AsIChatClient</c>): what that shape costs by itself.
/// </summary>
internal sealed class MinimalProxy : IAsyncDisposable
{
    // As ChatApi's deltas: at most this many chunks each, so both rows write about as many events per reply.
    private const int MaxChunksPerDelta = 16;

    private readonly WebApplication _app;

    private MinimalProxy(WebApplication app, HttpClient client)
    {
        _app = app;
        Client = client;
    }

    /// <summary>A plain client on the proxy's socket.</summary>
    public HttpClient Client { get; }

    public static async Task<MinimalProxy> StartAsync(ChatClient sdk)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var chat = sdk.AsIChatClient();
        app.MapPost("/stream", (HttpRequest request, CancellationToken cancellationToken) => StreamAsync(request, prompt =>
            Deltas(sdk.CompleteChatStreamingAsync([new UserChatMessage(prompt)], cancellationToken: cancellationToken), TextOf, cancellationToken), cancellationToken));
        app.MapPost("/stream-ai", (HttpRequest request, CancellationToken cancellationToken) => StreamAsync(request, prompt =>
            Deltas(chat.GetStreamingResponseAsync(prompt, cancellationToken: cancellationToken), update => update.Text, cancellationToken), cancellationToken));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new MinimalProxy(app, new HttpClient { BaseAddress = new Uri(address) });
    }

    /// <summary>Reads the request's prompt (the first message's content) and answers with <paramref name="deltas"/> of it as server-sent events.</summary>
    private static async Task<IResult> StreamAsync(HttpRequest request, Func<string, IAsyncEnumerable<SseItem<Delta>>> deltas, CancellationToken cancellationToken)
    {
        using var json = await JsonDocument.ParseAsync(request.Body, cancellationToken: cancellationToken);
        return TypedResults.ServerSentEvents(deltas(json.RootElement.GetProperty("messages")[0].GetProperty("content").GetString() ?? ""));
    }

    /// <summary>An SDK update's text (its content parts; one in practice).</summary>
    private static string? TextOf(StreamingChatCompletionUpdate update) =>
        update.ContentUpdate.Count == 1 ? update.ContentUpdate[0].Text : string.Concat(update.ContentUpdate.Select(part => part.Text));

    /// <summary>
    /// The reply's text as <c>delta</c> events (the updates already read together in one, at most <see cref="MaxChunksPerDelta"/>),
    /// then <c>done</c>; read from the SDK's updates or Microsoft.Extensions.AI's alike.
    /// </summary>
    private static async IAsyncEnumerable<SseItem<Delta>> Deltas<T>(IAsyncEnumerable<T> updates, Func<T, string?> textOf, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        var chunks = 0;
        await using var reader = updates.GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            var next = reader.MoveNextAsync();
            if (chunks > 0 && (!next.IsCompleted || chunks == MaxChunksPerDelta))
            {
                yield return new SseItem<Delta>(new Delta(text.ToString()), "delta");
                text.Clear();
                chunks = 0;
            }

            if (!await next)
            {
                break;
            }

            if (textOf(reader.Current) is { Length: > 0 } chunk)
            {
                text.Append(chunk);
                chunks++;
            }
        }

        if (chunks > 0)
        {
            yield return new SseItem<Delta>(new Delta(text.ToString()), "delta");
        }

        yield return new SseItem<Delta>(new Delta(""), "done");
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.DisposeAsync();
    }

    /// <summary>One event's data.</summary>
    private sealed record Delta(string Text);
}
