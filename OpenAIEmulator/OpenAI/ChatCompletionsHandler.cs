using AspireRetry.OpenAIEmulator.Chaos;
using AspireRetry.OpenAIEmulator.Replies;
using AspireRetry.OpenAIEmulator.Stats;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>
/// <c>POST /v1/chat/completions</c>: genuine checks first (key, body, model), then the chaos
/// decision, recorded in stats, the request log and the server span before it is applied, so a
/// request the client abandons (a hang) is still counted.
/// </summary>
public sealed class ChatCompletionsHandler(
    ApiKeyCheck apiKey,
    ChaosEngine chaos,
    OutcomeApplier applier,
    EmulatorStats stats,
    RequestLog log,
    IOptions<EmulatorOptions> options,
    TimeProvider time,
    ILogger<ChatCompletionsHandler> logger)
{
    public async Task HandleAsync(HttpContext context)
    {
        var receivedAt = time.GetUtcNow();
        var caller = CallerKey.From(context.Request);

        if (apiKey.Check(context.Request) is { } unauthorized)
        {
            Record(context, receivedAt, caller, null, false, Fault.InvalidApiKey, null);
            await OpenAIErrors.WriteAsync(context, StatusCodes.Status401Unauthorized, unauthorized);
            return;
        }

        var (request, invalid) = await ChatRequestParser.ParseAsync(context.Request.Body, context.RequestAborted);
        if (request is null)
        {
            Record(context, receivedAt, caller, null, false, Fault.InvalidRequest, null);
            await OpenAIErrors.WriteAsync(context, StatusCodes.Status400BadRequest, invalid!);
            return;
        }

        if (!options.Value.Models.Contains(request.Model, StringComparer.Ordinal))
        {
            Record(context, receivedAt, caller, request.Model, request.Stream, Fault.ModelNotFound, null);
            await OpenAIErrors.WriteAsync(context, StatusCodes.Status404NotFound, OpenAIErrors.ModelNotFound(request.Model));
            return;
        }

        var reply = ReplyGenerator.Generate(request);
        var decision = chaos.Decide(caller, request.Model, request.Stream, reply.TotalTokens);
        Record(context, receivedAt, caller, request.Model, request.Stream, decision.Fault, decision.RetryAfter?.AdvisedMs);
        await applier.ApplyAsync(context, request, reply, decision);
    }

    private void Record(HttpContext context, DateTimeOffset receivedAt, string? caller, string? model, bool stream, Fault fault, long? retryAfterMs)
    {
        EmulatorTelemetry.TagServerSpan(caller, fault);
        if (fault == Fault.None)
        {
            EmulatorTelemetry.AnsweredNormally(logger, model, stream, caller);
        }
        else
        {
            EmulatorTelemetry.FaultInjected(logger, model, stream, caller, fault.ToFaultName());
        }

        stats.Record(caller, fault.ToOutcomeName());
        log.Add(new LoggedRequest(0, context.GetRequestId(), receivedAt, caller, model, stream, fault.ToOutcomeName(), fault.ToStatusCode(), retryAfterMs));
    }
}
