using System.Globalization;
using System.Text.Json;

namespace AspireRetry.Bench.Measuring;

/// <summary>
/// The innermost handler of every strategy's HttpClient, so it runs once per upstream attempt whichever
/// layer retries: tags the attempt with the call's emulator caller key (which scopes scripts, token
/// buckets and the request log) and records when it was sent, what came back and what wait it asked for; for a call
/// that counts tokens, also the <c>usage.total_tokens</c> the upstream reported for a successful answer (what its
/// token bucket charged).
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
            var received = call.Clock.NowMs;
            var tokens = call.CountsTokens && response.IsSuccessStatusCode ? await UsageAsync(response, cancellationToken).ConfigureAwait(false) : null;
            call.Add(new Attempt(sent, received, status, ServerWaitMs(response), status.ToString(CultureInfo.InvariantCulture), tokens));
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

    /// <summary>
    /// The answer's <c>usage.total_tokens</c> (chat completions and embeddings alike), null when it has none. The body is
    /// buffered first, so the client above still reads all of it.
    /// </summary>
    private static async Task<long?> UsageAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await response.Content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object
                && usage.TryGetProperty("total_tokens", out var total) && total.TryGetInt64(out var tokens)
                ? tokens
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

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
