using System.Globalization;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>What one upstream attempt knows about the attempts before it; read by the HTTP span enrichment.</summary>
internal sealed record AttemptInfo(int Number, string? PreviousOutcome, TimeSpan? DelayBefore);

/// <summary>
/// Sits inside the resilience pipeline, so it runs once per attempt: numbers the attempt, hands its
/// history to the HTTP client span (through the request options) and reports its outcome to the call.
/// </summary>
internal sealed class AttemptHandler : DelegatingHandler
{
    public static readonly HttpRequestOptionsKey<AttemptInfo> AttemptKey = new("aspireretry.attempt");

    /// <summary>The outcome that caused the next attempt, and the wait before it.</summary>
    private static readonly ResiliencePropertyKey<(string Outcome, TimeSpan Delay)> RetryKey = new("aspireretry.retry");

    private static readonly ResiliencePropertyKey<int> NumberKey = new("aspireretry.number");

    /// <summary>Told by the retry strategy: why the next attempt happens and after what wait.</summary>
    public static void RetryScheduled(ResilienceContext context, string reason, TimeSpan delay) =>
        context.Properties.Set(RetryKey, (reason, delay));

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

    private static (int Number, CallProgress? Call) Begin(HttpRequestMessage request)
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
        request.Options.Set(AttemptKey, context.Properties.TryGetValue(RetryKey, out var retry)
            ? new AttemptInfo(number, retry.Outcome, retry.Delay)
            : new AttemptInfo(number, null, null));
        return (callNumber, call);
    }

    private static string Outcome(HttpResponseMessage response) =>
        response.IsSuccessStatusCode ? RetryTelemetryConstants.Outcomes.Ok : ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
}
