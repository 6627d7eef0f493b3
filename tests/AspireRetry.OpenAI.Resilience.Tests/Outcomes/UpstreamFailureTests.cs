using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using OpenAI;
using OpenAI.Chat;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// One classification for the failover and for the app that answers its caller. The upstream's answers are
/// the exceptions the OpenAI SDK really throws for them, so the error body and headers are read as in production.
/// </summary>
public sealed class UpstreamFailureTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(429, "rate_limit_exceeded", UpstreamFailureKind.RateLimited)]
    [InlineData(429, null, UpstreamFailureKind.RateLimited)]
    [InlineData(429, "insufficient_quota", UpstreamFailureKind.QuotaExhausted)]
    [InlineData(401, "invalid_api_key", UpstreamFailureKind.KeyRejected)]
    [InlineData(403, null, UpstreamFailureKind.KeyRejected)]
    [InlineData(408, null, UpstreamFailureKind.Unavailable)]
    [InlineData(500, "server_error", UpstreamFailureKind.Unavailable)]
    [InlineData(502, null, UpstreamFailureKind.Unavailable)]
    [InlineData(503, null, UpstreamFailureKind.Unavailable)]
    [InlineData(504, null, UpstreamFailureKind.Unavailable)]
    [InlineData(400, "invalid_request_error", UpstreamFailureKind.RequestInvalid)]
    [InlineData(422, null, UpstreamFailureKind.RequestInvalid)]
    [InlineData(404, "model_not_found", UpstreamFailureKind.Refused)]
    public void An_upstream_answer_is_named_by_its_status_and_error_code(int status, string? code, UpstreamFailureKind kind)
    {
        var thrown = Answered((HttpStatusCode)status, code);

        var failure = UpstreamFailure.Classify(thrown);

        Assert.NotNull(failure);
        Assert.Equal(kind, failure.Kind);
        Assert.Equal(status, failure.Status);
        Assert.Equal(code, failure.ErrorCode);
        Assert.Same(thrown, failure.Exception);
    }

    [Fact]
    public void The_servers_wait_is_retry_after_ms_before_retry_after()
    {
        var thrown = Answered(HttpStatusCode.TooManyRequests, "rate_limit_exceeded", ("retry-after-ms", "1500"), ("retry-after", "20"));

        Assert.Equal(TimeSpan.FromMilliseconds(1500), UpstreamFailure.Classify(thrown)?.RetryAfter);
    }

    [Fact]
    public void A_retry_after_date_is_read_against_the_given_clock()
    {
        var thrown = Answered(HttpStatusCode.ServiceUnavailable, null, ("retry-after", Now.AddSeconds(7).ToString("R")));

        Assert.Equal(TimeSpan.FromSeconds(7), UpstreamFailure.Classify(thrown, new FakeTimeProvider(Now))?.RetryAfter);
    }

    [Fact]
    public void A_down_upstream_carries_the_time_to_its_next_check()
    {
        var down = UpstreamFailure.Classify(new UpstreamDownException("down", TimeSpan.FromSeconds(4)));
        var open = UpstreamFailure.Classify(new BrokenCircuitException("open", TimeSpan.FromSeconds(2)));

        Assert.Equal(UpstreamFailureKind.Down, down?.Kind);
        Assert.Equal(TimeSpan.FromSeconds(4), down?.RetryAfter);
        Assert.Equal(UpstreamFailureKind.Down, open?.Kind);
        Assert.Equal(TimeSpan.FromSeconds(2), open?.RetryAfter);
    }

    [Fact]
    public void Our_closed_gate_carries_its_wait()
    {
        var failure = UpstreamFailure.Classify(new RateLimitGateRejectedException(TimeSpan.FromMilliseconds(800), "closed"));

        Assert.Equal(UpstreamFailureKind.GateClosed, failure?.Kind);
        Assert.Equal(TimeSpan.FromMilliseconds(800), failure?.RetryAfter);
    }

    public static TheoryData<Exception, UpstreamFailureKind> NoAnswer => new()
    {
        { new TimeoutRejectedException(), UpstreamFailureKind.TimedOut },
        { new HttpRequestException(HttpRequestError.ConnectionError, "refused"), UpstreamFailureKind.Unreachable },
        { new HttpIOException(HttpRequestError.ResponseEnded, "reset"), UpstreamFailureKind.StreamBroken },
        { new IOException("broken"), UpstreamFailureKind.StreamBroken },
        { new TaskCanceledException(), UpstreamFailureKind.Cancelled },
    };

    [Theory]
    [MemberData(nameof(NoAnswer))]
    public void A_call_without_an_answer_is_named_by_its_exception(Exception thrown, UpstreamFailureKind kind)
    {
        var failure = UpstreamFailure.Classify(thrown);

        Assert.Equal(kind, failure?.Kind);
        Assert.Null(failure?.Status);
        Assert.Null(failure?.RetryAfter);
    }

    [Fact]
    public void Inner_exceptions_are_read_until_one_says_what_went_wrong()
    {
        var cause = new HttpRequestException(HttpRequestError.ConnectionError, "refused");
        // Status 0: the SDK had no answer, so its exception says nothing of its own.
        var thrown = new InvalidOperationException("wrapped", new ClientResultException("no response", innerException: cause));

        var failure = UpstreamFailure.Classify(thrown);

        Assert.Equal(UpstreamFailureKind.Unreachable, failure?.Kind);
        Assert.Same(cause, failure?.Exception);
    }

    [Fact]
    public void The_outermost_exception_that_says_what_went_wrong_decides()
    {
        // Polly's timeout carries the cancellation it caused; a cancellation may carry what was under way.
        var timedOut = new TimeoutRejectedException("attempt timeout", new OperationCanceledException());
        var cancelled = new OperationCanceledException("stopped", new HttpRequestException("refused"));

        Assert.Equal(UpstreamFailureKind.TimedOut, UpstreamFailure.Classify(timedOut)?.Kind);
        Assert.Equal(UpstreamFailureKind.Cancelled, UpstreamFailure.Classify(cancelled)?.Kind);
    }

    [Fact]
    public void A_failure_nothing_in_the_chain_explains_is_not_named()
    {
        Assert.Null(UpstreamFailure.Classify(new InvalidOperationException("bug", new ArgumentException("deeper"))));
        Assert.Null(UpstreamFailure.Classify(null));
    }

    public static TheoryData<Exception, string?> FailoverReasons => new()
    {
        { Answered(HttpStatusCode.TooManyRequests, "rate_limit_exceeded"), "429 rate_limit_exceeded" },
        { Answered(HttpStatusCode.TooManyRequests, "insufficient_quota"), "429 insufficient_quota" },
        { Answered(HttpStatusCode.TooManyRequests, null), "429" },
        { Answered(HttpStatusCode.ServiceUnavailable, "server_error"), "503" },
        { Answered(HttpStatusCode.Unauthorized, "invalid_api_key"), "401" },
        { Answered(HttpStatusCode.NotFound, "model_not_found"), "404" },
        { Answered(HttpStatusCode.BadRequest, "invalid_request_error"), null },
        { Answered(HttpStatusCode.UnprocessableEntity, null), null },
        { new UpstreamDownException("down", TimeSpan.FromSeconds(4)), "upstream down (circuit breaker open)" },
        { new BrokenCircuitException(), "upstream down (circuit breaker open)" },
        { new RateLimitGateRejectedException(TimeSpan.FromSeconds(1), "closed"), "rate limited (gate closed)" },
        { new TimeoutRejectedException(), "timed out" },
        { new HttpRequestException(HttpRequestError.ConnectionError, "refused"), "unreachable (connection failed)" },
        { new IOException("broken"), null },
        { new OperationCanceledException("stopped", new HttpRequestException("refused")), null },
        { new InvalidOperationException("bug"), null },
    };

    [Theory]
    [MemberData(nameof(FailoverReasons))]
    public void The_failover_reads_its_reason_from_the_classification(Exception thrown, string? reason) =>
        Assert.Equal(reason, UpstreamFailoverChatClient.FailoverReason(thrown));

    /// <summary>What the OpenAI SDK throws when the upstream answers this status, error code and headers.</summary>
    private static ClientResultException Answered(HttpStatusCode status, string? code, params (string Name, string Value)[] headers)
    {
        var body = code is null ? "{}" : JsonSerializer.Serialize(new { error = new { message = "refused", type = code, param = (string?)null, code } });
        using var http = new HttpClient(new Answer(status, body, headers));
        var client = new ChatClient("gpt-4o", new ApiKeyCredential("sk-test"), new OpenAIClientOptions
        {
            Endpoint = new Uri("http://upstream.test/v1"),
            Transport = new HttpClientPipelineTransport(http),
            RetryPolicy = new ClientRetryPolicy(0),
        });
        return Assert.Throws<ClientResultException>(() => client.CompleteChat([new UserChatMessage("Hi")]));
    }

    private sealed class Answer(HttpStatusCode status, string body, (string Name, string Value)[] headers) : HttpMessageHandler
    {
        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            foreach (var (name, value) in headers)
            {
                response.Headers.TryAddWithoutValidation(name, value);
            }

            return response;
        }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(Send(request, cancellationToken));
    }
}
