using AspireRetry.OpenAIEmulator.Azure;
using AspireRetry.OpenAIEmulator.Chaos;
using AspireRetry.OpenAIEmulator.Stats;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>
/// Every model request (chat completions, embeddings, responses; OpenAI's and Azure's paths) takes this one
/// path: genuine checks first (api-version, credential, body, model), then the chaos decision, recorded in
/// stats, the request log and the server span before it is applied, so a request the client abandons (a
/// hang) is still counted.
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
    public const string DeploymentRouteValue = "deployment";

    public async Task HandleAsync(HttpContext context, IModelOperation operation, Dialect dialect)
    {
        var request = context.Request;
        var auth = apiKey.Check(request, dialect);
        var seen = new Seen(context, operation, dialect, time.GetUtcNow(), CallerKey.From(request), request.Query["api-version"].FirstOrDefault(), auth.Credential);
        var deployment = dialect == Dialect.AzureDeployment ? context.GetRouteValue(DeploymentRouteValue) as string : null;

        if (dialect == Dialect.AzureDeployment && string.IsNullOrEmpty(seen.ApiVersion))
        {
            await RejectAsync(seen, deployment, Fault.ResourceNotFound, AzureErrors.ResourceNotFound);
            return;
        }

        if (auth.Rejection is { } unauthorized)
        {
            await RejectAsync(seen, deployment, Fault.InvalidApiKey, unauthorized);
            return;
        }

        var (call, invalid) = await operation.ParseAsync(request.Body, deployment, context.RequestAborted);
        if (call is null)
        {
            await RejectAsync(seen, deployment, Fault.InvalidRequest, ErrorReply.OpenAI(StatusCodes.Status400BadRequest, invalid!));
            return;
        }

        if (!operation.ModelsIn(options.Value).Contains(call.Model, StringComparer.Ordinal))
        {
            var notFound = dialect.IsAzure() ? AzureErrors.DeploymentNotFound : ErrorReply.OpenAI(StatusCodes.Status404NotFound, OpenAIErrors.ModelNotFound(call.Model));
            await RejectAsync(seen, call.Model, Fault.ModelNotFound, notFound, call.Stream);
            return;
        }

        var decision = chaos.Decide(seen.Caller, call.Model, call.Stream, call.Tokens);
        Record(seen, call.Model, call.Stream, decision.Fault, decision.RetryAfter?.AdvisedMs);
        await applier.ApplyAsync(context, call, decision);
    }

    private Task RejectAsync(Seen seen, string? model, Fault fault, ErrorReply reply, bool stream = false)
    {
        Record(seen, model, stream, fault, null);
        return reply.WriteAsync(seen.Context);
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
        log.Add(new LoggedRequest(
            0, seen.Context.GetRequestId(), seen.ReceivedAt, seen.Caller, model, stream, fault.ToOutcomeName(), fault.ToStatusCode(), retryAfterMs,
            seen.Operation.Name, seen.Dialect.ToName(), seen.Context.Request.Path, seen.ApiVersion, seen.Credential));
    }

    /// <summary>What is known of a request from its arrival, before its body is read.</summary>
    private sealed record Seen(
        HttpContext Context, IModelOperation Operation, Dialect Dialect, DateTimeOffset ReceivedAt, string? Caller, string? ApiVersion, string? Credential);
}
