using AspireRetry.OpenAIEmulator.Chaos;
using AspireRetry.OpenAIEmulator.Stats;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>
/// Every model request (chat completions, embeddings, responses) takes this one path: genuine checks
/// first (key, body, model), then the chaos decision, recorded in stats, the request log and the
/// server span before it is applied, so a request the client abandons (a hang) is still counted.
/// </summary>
public sealed class ModelRequestHandler(
    ApiKeyCheck apiKey,
    ChaosEngine chaos,
    OutcomeApplier applier,
    EmulatorStats stats,
    RequestLog log,
    IOptions<EmulatorOptions> options,
    TimeProvider time,
    ILogger<ModelRequestHandler> logger)
{
    public async Task HandleAsync(HttpContext context, IModelOperation operation)
    {
        var seen = new Seen(context, operation, time.GetUtcNow(), CallerKey.From(context.Request));

        if (apiKey.Check(context.Request) is { } unauthorized)
        {
            Record(seen, null, false, Fault.InvalidApiKey, null);
            await OpenAIErrors.WriteAsync(context, StatusCodes.Status401Unauthorized, unauthorized);
            return;
        }

        var (call, invalid) = await operation.ParseAsync(context.Request.Body, context.RequestAborted);
        if (call is null)
        {
            Record(seen, null, false, Fault.InvalidRequest, null);
            await OpenAIErrors.WriteAsync(context, StatusCodes.Status400BadRequest, invalid!);
            return;
        }

        if (!operation.ModelsIn(options.Value).Contains(call.Model, StringComparer.Ordinal))
        {
            Record(seen, call.Model, call.Stream, Fault.ModelNotFound, null);
            await OpenAIErrors.WriteAsync(context, StatusCodes.Status404NotFound, OpenAIErrors.ModelNotFound(call.Model));
            return;
        }

        var decision = chaos.Decide(seen.Caller, call.Model, call.Stream, call.Tokens);
        Record(seen, call.Model, call.Stream, decision.Fault, decision.RetryAfter?.AdvisedMs);
        await applier.ApplyAsync(context, call, decision);
    }

    private void Record(Seen seen, string? model, bool stream, Fault fault, long? retryAfterMs)
    {
        EmulatorTelemetry.TagServerSpan(seen.Caller, fault);
        if (fault == Fault.None)
        {
            EmulatorTelemetry.AnsweredNormally(logger, seen.Operation.Name, model, stream, seen.Caller);
        }
        else
        {
            EmulatorTelemetry.FaultInjected(logger, seen.Operation.Name, model, stream, seen.Caller, fault.ToFaultName());
        }

        stats.Record(seen.Caller, fault.ToOutcomeName());
        log.Add(new LoggedRequest(0, seen.Context.GetRequestId(), seen.ReceivedAt, seen.Caller, model, stream, fault.ToOutcomeName(), fault.ToStatusCode(), retryAfterMs));
    }

    /// <summary>What is known of a request from its arrival, before its body is read.</summary>
    private sealed record Seen(HttpContext Context, IModelOperation Operation, DateTimeOffset ReceivedAt, string? Caller);
}
