using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AspireRetry.WebFrontend.Services;

namespace AspireRetry.WebFrontend.Tests;

/// <summary>
/// ChatApi's <c>POST /api/chat/stream</c>, answered from a script, one reply per request in order. What the
/// page sent is kept for the asserts.
/// </summary>
internal sealed class ScriptedChatApi : HttpMessageHandler
{
    private readonly Queue<Func<HttpResponseMessage>> _replies = new();

    public List<ChatRequest> Requests { get; } = [];

    /// <summary>The <c>baggage</c> header of each request, in order.</summary>
    public List<string> Baggage { get; } = [];

    public ChatApiClient Client() => new(new HttpClient(this) { BaseAddress = new Uri("http://chatapi") });

    /// <summary>The next request gets these events, and the stream ends.</summary>
    public void Streams(params ChatStreamEvent[] events) =>
        _replies.Enqueue(() => Ok(new ScriptedBody(Sse(events), ScriptedBody.End.Close)));

    /// <summary>The next request gets these events, and the stream stays open until the call is cancelled.</summary>
    public ScriptedBody StreamsAndHangs(params ChatStreamEvent[] events) => Enqueue(new ScriptedBody(Sse(events), ScriptedBody.End.Hang));

    /// <summary>The next request gets these events, then the connection breaks.</summary>
    public void StreamsAndBreaks(params ChatStreamEvent[] events) => Enqueue(new ScriptedBody(Sse(events), ScriptedBody.End.Break));

    /// <summary>The next request is refused before any stream, with a problem description.</summary>
    public void Refuses(HttpStatusCode status, string title) =>
        _replies.Enqueue(() => new HttpResponseMessage(status) { Content = JsonContent.Create(new { title, detail = "Scripted refusal." }) });

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Requests.Add((await request.Content!.ReadFromJsonAsync<ChatRequest>(JsonSerializerOptions.Web, cancellationToken))!);
        Baggage.Add(string.Join(",", request.Headers.TryGetValues("baggage", out var values) ? values : []));
        return _replies.Count > 0 ? _replies.Dequeue()() : throw new InvalidOperationException("The test scripted no reply for this request.");
    }

    private ScriptedBody Enqueue(ScriptedBody body)
    {
        _replies.Enqueue(() => Ok(body));
        return body;
    }

    private static HttpResponseMessage Ok(ScriptedBody body)
    {
        var content = new StreamContent(body);
        content.Headers.ContentType = new("text/event-stream");
        return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
    }

    private static byte[] Sse(IEnumerable<ChatStreamEvent> events)
    {
        var text = new StringBuilder();
        foreach (var e in events)
        {
            var name = e switch
            {
                StartEvent => ChatStreamEvents.Start,
                AttemptEvent => ChatStreamEvents.Attempt,
                DeltaEvent => ChatStreamEvents.Delta,
                DoneEvent => ChatStreamEvents.Done,
                ErrorEvent => ChatStreamEvents.Error,
                _ => throw new ArgumentException($"No SSE name for {e.GetType().Name}"),
            };
            text.Append($"event: {name}\ndata: {JsonSerializer.Serialize(e, e.GetType(), JsonSerializerOptions.Web)}\n\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }
}

/// <summary>A response body that gives its scripted bytes, then ends, hangs or breaks.</summary>
internal sealed class ScriptedBody(byte[] head, ScriptedBody.End end) : Stream
{
    public enum End { Close, Hang, Break }

    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _position;

    /// <summary>
    /// Completes when the reader asks for more than the script: every scripted event has been parsed and
    /// handled, since the page reads the next event only after handling the last one.
    /// </summary>
    public Task Drained => _drained.Task;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_position < head.Length)
        {
            var count = Math.Min(buffer.Length, head.Length - _position);
            head.AsMemory(_position, count).CopyTo(buffer);
            _position += count;
            return count;
        }

        _drained.TrySetResult();
        switch (end)
        {
            case End.Hang:
                await Task.Delay(Timeout.Infinite, cancellationToken);
                return 0;
            case End.Break:
                throw new IOException("Scripted: the connection broke.");
            default:
                return 0;
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
