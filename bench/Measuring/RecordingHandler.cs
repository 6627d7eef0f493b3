using System.Globalization;

namespace AspireRetry.Bench.Measuring;

/// <summary>
/// The innermost handler of every strategy's HttpClient, so it runs once per upstream attempt whichever
/// layer retries: tags the attempt with the call's emulator caller key (which scopes scripts, token
/// buckets and the request log) and records when it was sent, what came back and what wait it asked for.
/// </summary>
public sealed class RecordingHandler : DelegatingHandler
{
    public const string CallerHeader = "x-emulator-caller";

    public RecordingHandler()
    {
    }

    public RecordingHandler(HttpMessageHandler inner) : base(inner)
    {
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (CallRecord.Current is not { } call)
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        request.Headers.Remove(CallerHeader);
        request.Headers.TryAddWithoutValidation(CallerHeader, call.Caller);
        var sent = call.Clock.NowMs;
        try
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            call.Add(new Attempt(sent, call.Clock.NowMs, status, ServerWaitMs(response), status.ToString(CultureInfo.InvariantCulture)));
            return response;
        }
        catch (Exception ex)
        {
            call.Add(new Attempt(sent, call.Clock.NowMs, null, null, ex.GetType().Name));
            throw;
        }
    }

    // Only the async path is used by the harness; a synchronous send would bypass the record, so refuse it.
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        throw new NotSupportedException("The benchmark calls the upstream asynchronously only.");

    private static double? ServerWaitMs(HttpResponseMessage response)
    {
        if (response.Headers.TryGetValues("retry-after-ms", out var ms)
            && double.TryParse(ms.FirstOrDefault(), NumberStyles.Float, CultureInfo.InvariantCulture, out var milliseconds))
        {
            return milliseconds;
        }

        return response.Headers.RetryAfter?.Delta?.TotalMilliseconds;
    }
}
