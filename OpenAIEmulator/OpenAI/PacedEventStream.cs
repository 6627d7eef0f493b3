using System.Text.Json;
using AspireRetry.OpenAI.Resilience;
using AspireRetry.OpenAIEmulator.Chaos;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>
/// A server-sent event stream paced like a model, for chat completion chunks and Responses events alike:
/// headers after the first-token delay, one token per 1/tokensPerSecond, and the connection cut after
/// the decision's number of events, before the last event at the latest, so a cut stream never looks complete.
/// </summary>
public sealed class PacedEventStream
{
    private static readonly TimeSpan MinimumCutDelay = TimeSpan.FromMilliseconds(100);

    private readonly HttpContext _context;
    private readonly StreamPacing _pacing;
    private readonly TimeProvider _time;
    private readonly CancellationToken _cancellationToken;
    private readonly int _cutAfter;
    private int _written;
    private long? _firstToken;

    private PacedEventStream(HttpContext context, StreamPacing pacing, int eventCount, TimeProvider time, CancellationToken cancellationToken)
    {
        _context = context;
        _pacing = pacing;
        _time = time;
        _cancellationToken = cancellationToken;
        _cutAfter = pacing.DisconnectAfterChunks is { } after ? Math.Min(after, eventCount - 1) : int.MaxValue;
    }

    /// <summary>Waits out the first-token delay, then sends the headers (with the decision's rate-limit headers).</summary>
    /// <param name="eventCount">How many events a complete stream has, so a cut lands before the last one.</param>
    public static async Task<PacedEventStream> StartAsync(HttpContext context, ChaosDecision decision, int eventCount, TimeProvider time, CancellationToken cancellationToken)
    {
        await time.DelayAsync(decision.Pacing.FirstTokenDelay, cancellationToken);

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.AddRateLimitHeaders(decision);
        await response.StartAsync(cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
        return new PacedEventStream(context, decision.Pacing, eventCount, time, cancellationToken);
    }

    /// <summary>Waits until token <paramref name="index"/> is due: the first at once, then one per token gap.</summary>
    public Task PaceTokenAsync(int index)
    {
        _firstToken ??= _time.GetTimestamp();
        return _time.DelayAsync((_pacing.TokenGap * index) - _time.GetElapsedTime(_firstToken.Value), _cancellationToken);
    }

    /// <summary>
    /// Sends one event, flushed on its own: <c>data: {json}</c> (a string payload is sent as it is), after an
    /// <c>event:</c> line when named. False once the stream has been cut: the caller stops writing.
    /// </summary>
    public async ValueTask<bool> SendAsync(object payload, string? eventName = null)
    {
        if (_written == _cutAfter)
        {
            // The connection drops while the next token is being generated. The floor gives the
            // client time to read what was sent: a reset that lands first discards unread bytes.
            await _time.DelayAsync(TimeSpans.Max(_pacing.TokenGap, MinimumCutDelay), _cancellationToken);
            _context.Abort();
            return false;
        }

        var data = payload as string ?? JsonSerializer.Serialize(payload, OpenAIJson.Options);
        var frame = eventName is null ? $"data: {data}\n\n" : $"event: {eventName}\ndata: {data}\n\n";
        await _context.Response.WriteAsync(frame, _cancellationToken);
        await _context.Response.Body.FlushAsync(_cancellationToken);
        _written++;
        return true;
    }
}
