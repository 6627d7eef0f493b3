using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace AspireRetry.OpenAI.Resilience.Redis.Tests;

/// <summary>One request the upstream saw: in arrival order, from which replica, when (on the upstream's clock), and how it answered.</summary>
public sealed record SeenRequest(int Number, string Replica, TimeSpan At, int Status);

/// <summary>An answer the test scripts: a status, the server's wait for a 429, and how long the upstream takes to give it.</summary>
public sealed record Reply(int Status, TimeSpan? RetryAfter = null, TimeSpan Delay = default)
{
    public static Reply Ok { get; } = new(200);

    /// <summary>429 <c>rate_limit_exceeded</c> with <c>retry-after-ms</c>.</summary>
    public static Reply RateLimited(TimeSpan retryAfter) => new(429, retryAfter);

    /// <summary>503: the upstream is down; <paramref name="after"/> is how long it takes to say so.</summary>
    public static Reply Unavailable(TimeSpan after = default) => new(503, Delay: after);
}

/// <summary>
/// An OpenAI-compatible upstream in process, behind each replica's HttpClient as its primary handler: it records every
/// request (the operator's view of what reached the provider) and answers chat completions. It keeps a request bucket as
/// OpenAI does (a limit that refills continuously over a window) and publishes it on every answer in
/// <c>x-ratelimit-limit-requests</c>, <c>-remaining-requests</c> and <c>-reset-requests</c>; an empty bucket answers
/// 429 with the exact wait. Scripted replies come first, in order, whatever the bucket holds (a scripted 429 empties it);
/// then <see cref="Otherwise"/>. Shared by the replicas of a test, so their requests meet one limit and one log.
/// </summary>
public sealed class FakeUpstream
{
    private const string Completion = """
        {"id":"chatcmpl-test","object":"chat.completion","created":1764000000,"model":"gpt-4o",
         "choices":[{"index":0,"message":{"role":"assistant","content":"Hello."},"finish_reason":"stop"}],
         "usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}
        """;

    private readonly Lock _lock = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Queue<Reply> _script = new();
    private readonly List<SeenRequest> _seen = [];
    private readonly int _limit;
    private readonly double _refillPerMs;
    private double _tokens;
    private TimeSpan _refilledAt;

    /// <param name="limit">Requests the bucket holds.</param>
    /// <param name="window">How long an empty bucket takes to refill: one request every <paramref name="window"/> / <paramref name="limit"/>.</param>
    public FakeUpstream(int limit = 1000, TimeSpan? window = null)
    {
        _limit = limit;
        _tokens = limit;
        _refillPerMs = limit / (window ?? TimeSpan.FromSeconds(1)).TotalMilliseconds;
    }

    /// <summary>What the upstream answers when nothing is scripted and the bucket admits the request.</summary>
    public Reply Otherwise { get; set; } = Reply.Ok;

    /// <summary>The requests seen so far, in arrival order.</summary>
    public IReadOnlyList<SeenRequest> Seen
    {
        get
        {
            lock (_lock)
            {
                return [.. _seen];
            }
        }
    }

    /// <summary>The next requests get these answers, in order (from whichever replica they come).</summary>
    public void Script(params Reply[] replies)
    {
        lock (_lock)
        {
            foreach (var reply in replies)
            {
                _script.Enqueue(reply);
            }
        }
    }

    /// <summary>A primary handler for one replica's HttpClient; the factory may ask for several over the app's life.</summary>
    public HttpMessageHandler HandlerFor(string replica) => new Handler(this, replica);

    private async Task<HttpResponseMessage> AnswerAsync(string replica, CancellationToken cancellationToken)
    {
        Reply reply;
        long remaining;
        TimeSpan reset;
        lock (_lock)
        {
            var now = _clock.Elapsed;
            _tokens = Math.Min(_limit, _tokens + (_refillPerMs * (now - _refilledAt).TotalMilliseconds));
            _refilledAt = now;

            // A hair of tolerance: a client that waited exactly the published time finds its request there.
            var admitted = _tokens + 1e-9 >= 1;
            reply = _script.TryDequeue(out var scripted) ? scripted
                : admitted ? Otherwise
                : Reply.RateLimited(TimeSpan.FromMilliseconds((1 - _tokens) / _refillPerMs));
            if (reply.Status == 429)
            {
                // A 429 says the limit is reached (another client of the key spent it, say): its headers say so too.
                _tokens = 0;
            }
            else if (admitted)
            {
                _tokens -= 1;
            }

            remaining = (long)Math.Floor(_tokens + 1e-9);
            reset = TimeSpan.FromMilliseconds((_limit - _tokens) / _refillPerMs);
            _seen.Add(new SeenRequest(_seen.Count + 1, replica, now, reply.Status));
        }

        if (reply.Delay > TimeSpan.Zero)
        {
            await Task.Delay(reply.Delay, cancellationToken);
        }

        var response = new HttpResponseMessage((HttpStatusCode)reply.Status)
        {
            Content = new StringContent(Body(reply.Status), Encoding.UTF8, "application/json"),
        };
        response.Headers.Add("x-ratelimit-limit-requests", _limit.ToString(CultureInfo.InvariantCulture));
        response.Headers.Add("x-ratelimit-remaining-requests", remaining.ToString(CultureInfo.InvariantCulture));
        response.Headers.Add("x-ratelimit-reset-requests", CeilingMs(reset) + "ms");
        if (reply.RetryAfter is { } wait)
        {
            response.Headers.Add("retry-after-ms", CeilingMs(wait));
        }

        return response;
    }

    /// <summary>Rounded up, as OpenAI's and the emulator's headers are: waiting the stated time is always enough.</summary>
    private static string CeilingMs(TimeSpan t) => ((long)Math.Ceiling(t.TotalMilliseconds - 1e-6)).ToString(CultureInfo.InvariantCulture);

    private static string Body(int status) => status switch
    {
        200 => Completion,
        429 => """{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}""",
        _ => """{"error":{"message":"The server is overloaded.","type":"server_error","param":null,"code":null}}""",
    };

    private sealed class Handler(FakeUpstream upstream, string replica) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            upstream.AnswerAsync(replica, cancellationToken);
    }
}
