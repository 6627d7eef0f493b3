using AspireRetry.OpenAIEmulator.OpenAI;

namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>
/// Turns a decision into what happens on the wire: an OpenAI error with its headers, an aborted
/// connection, a request left hanging, or the operation's own (possibly slowed or cut) answer.
/// </summary>
public sealed class OutcomeApplier(TimeProvider time, IHostApplicationLifetime lifetime)
{
    public async Task ApplyAsync(HttpContext context, IModelCall call, ChaosDecision decision)
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
                    await time.DelayAsync(decision.HangFor, cancellationToken);
                    context.Abort();
                    break;

                case var fault when fault.IsCompletion():
                    await call.WriteAsync(context, decision, cancellationToken);
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
                        new OpenAIErrorResponse(OpenAIErrors.ForFault(decision, call.Model)), OpenAIJson.Options, cancellationToken);
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
