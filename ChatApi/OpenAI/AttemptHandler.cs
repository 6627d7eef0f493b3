using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace AspireRetry.ChatApi.OpenAI;

/// <summary>What one upstream attempt knows about the attempts before it; read by the HTTP span enrichment.</summary>
public sealed record AttemptInfo(int Number, string? PreviousOutcome, TimeSpan? DelayBefore);

/// <summary>
/// Sits inside the resilience pipeline, so it runs once per attempt: numbers the attempt, hands its
/// history to the HTTP client span (through the request options) and reports its outcome to the call.
/// </summary>
internal sealed class AttemptHandler(TimeProvider time) : DelegatingHandler
{
    public static readonly HttpRequestOptionsKey<AttemptInfo> AttemptKey = new("aspireretry.attempt");

    /// <summary>Set by the retry strategy: the outcome that caused the next attempt, and the wait before it.</summary>
    internal static readonly ResiliencePropertyKey<(string Outcome, TimeSpan Delay)> RetryKey = new("aspireretry.retry");

    /// <summary>When the first attempt of this call started, for the "is the server's wait within our budget" check.</summary>
    internal static readonly ResiliencePropertyKey<long> StartedKey = new("aspireretry.started");

    private static readonly ResiliencePropertyKey<int> NumberKey = new("aspireretry.number");

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var (number, call) = Begin(request);
        try
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            call?.AttemptEnded(number, Outcome(response), (int)response.StatusCode);
            return response;
        }
        catch (Exception ex)
        {
            call?.AttemptEnded(number, UpstreamOutcome.DescribeException(ex), null);
            throw;
        }
    }

    // The OpenAI SDK's synchronous methods come through HttpClient.Send: count those attempts too.
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var (number, call) = Begin(request);
        try
        {
            var response = base.Send(request, cancellationToken);
            call?.AttemptEnded(number, Outcome(response), (int)response.StatusCode);
            return response;
        }
        catch (Exception ex)
        {
            call?.AttemptEnded(number, UpstreamOutcome.DescribeException(ex), null);
            throw;
        }
    }

    private (int Number, CallProgress? Call) Begin(HttpRequestMessage request)
    {
        // Two numbers: the call's (across models, what the caller is told) and this pipeline run's
        // (what the span's resend count is about).
        var call = CallProgress.Current;
        var context = request.GetResilienceContext();
        var number = (context?.Properties.GetValue(NumberKey, 0) ?? 0) + 1;
        var callNumber = call?.AttemptStarted() ?? number;
        if (context is null)
        {
            request.Options.Set(AttemptKey, new AttemptInfo(number, null, null));
            return (callNumber, call);
        }

        context.Properties.Set(NumberKey, number);
        if (number == 1 && !context.Properties.TryGetValue(StartedKey, out _))
        {
            // The rate-limit gate, when on, started the clock already, before its wait.
            context.Properties.Set(StartedKey, time.GetTimestamp());
        }

        request.Options.Set(AttemptKey, context.Properties.TryGetValue(RetryKey, out var retry)
            ? new AttemptInfo(number, retry.Outcome, retry.Delay)
            : new AttemptInfo(number, null, null));
        return (callNumber, call);
    }

    private static string Outcome(HttpResponseMessage response) =>
        response.IsSuccessStatusCode ? "ok" : ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
