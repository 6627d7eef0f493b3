using AspireRetry.OpenAIEmulator.OpenAI;
using AspireRetry.OpenAIEmulator.Replies;

namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>
/// Turns a decision into what happens on the wire: an OpenAI error with its headers, an aborted
/// connection, a request left hanging, or a (possibly slowed or cut) completion.
/// </summary>
public sealed class OutcomeApplier(CompletionWriter writer, TimeProvider time, IHostApplicationLifetime lifetime)
{
    public async Task ApplyAsync(HttpContext context, ChatCompletionRequest request, Reply reply, ChaosDecision decision)
    {
        // A hang or slow stream must not hold up shutdown (Kestrel waits for running requests).
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        var cancellationToken = cancellation.Token;
        try
        {
            switch (decision.Fault)
            {
                case Fault.Reset:
                    context.Abort();
                    break;

                case Fault.Hang:
                    await Task.Delay(decision.HangFor, time, cancellationToken);
                    context.Abort();
                    break;

                case var fault when fault.IsCompletion():
                    await (request.Stream
                        ? writer.WriteStreamAsync(context, request, reply, decision, cancellationToken)
                        : writer.WritePlainAsync(context, request, reply, decision, cancellationToken));
                    break;

                default:
                    if (decision.Fault == Fault.RateLimitedByBucket)
                    {
                        context.Response.AddRateLimitHeaders(decision);
                    }

                    if (decision.RetryAfter is { } advice)
                    {
                        context.Response.AddRetryAfterHeaders(advice);
                    }

                    if (decision.Outcome.ShouldRetry is { } shouldRetry)
                    {
                        context.Response.Headers[OpenAIHeaders.ShouldRetry] = shouldRetry ? "true" : "false";
                    }

                    context.Response.StatusCode = decision.StatusCode ?? StatusCodes.Status500InternalServerError;
                    await context.Response.WriteAsJsonAsync(
                        new OpenAIErrorResponse(OpenAIErrors.ForFault(decision, request.Model)), OpenAIJson.Options, cancellationToken);
                    break;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client gave up (or the emulator is stopping): there is no one left to answer.
            context.Abort();
        }
    }
}
