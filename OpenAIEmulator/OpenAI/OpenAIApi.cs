using AspireRetry.OpenAIEmulator.Chaos;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>The OpenAI-compatible surface under <c>/v1</c>.</summary>
public static class OpenAIApi
{
    // A fixed creation time keeps /v1/models byte-for-byte stable between runs.
    private static readonly long ModelsCreated = new DateTimeOffset(2024, 5, 13, 0, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds();

    public static IEndpointRouteBuilder MapOpenAIApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1");

        v1.MapModelOperation<ChatCompletionsOperation>("/chat/completions", Dialect.OpenAI);
        v1.MapModelOperation<EmbeddingsOperation>("/embeddings", Dialect.OpenAI);
        v1.MapModelOperation<ResponsesOperation>("/responses", Dialect.OpenAI);
        v1.MapGet("/models", ListModels);
        v1.MapGet("/models/{id}", GetModel);
        v1.MapFallback((HttpContext context) => OpenAIErrors.WriteAsync(
            context,
            StatusCodes.Status404NotFound,
            OpenAIErrors.InvalidRequest($"Invalid URL ({context.Request.Method} {context.Request.Path}).", null, "unknown_url")));

        return app;
    }

    /// <summary>Maps <paramref name="pattern"/> to <typeparamref name="TOperation"/> in <paramref name="dialect"/>, through the one model-request path.</summary>
    public static RouteHandlerBuilder MapModelOperation<TOperation>(this IEndpointRouteBuilder group, string pattern, Dialect dialect)
        where TOperation : IModelOperation =>
        group.MapPost(pattern, (HttpContext context, ModelRequestHandler handler, TOperation operation) => handler.HandleAsync(context, operation, dialect));

    private static Task ListModels(HttpContext context, ApiKeyCheck apiKey, IOptions<EmulatorOptions> options)
    {
        if (Unauthorized(context, apiKey) is { } rejected)
        {
            return rejected;
        }

        EmulatorTelemetry.TagServerSpan(CallerKey.From(context.Request), Fault.None);
        var models = new ModelList("list", [.. options.Value.Models.Select(ToModel)]);
        return context.Response.WriteAsJsonAsync(models, OpenAIJson.Options, context.RequestAborted);
    }

    private static Task GetModel(string id, HttpContext context, ApiKeyCheck apiKey, IOptions<EmulatorOptions> options)
    {
        if (Unauthorized(context, apiKey) is { } rejected)
        {
            return rejected;
        }

        var caller = CallerKey.From(context.Request);
        if (!options.Value.Models.Contains(id, StringComparer.Ordinal))
        {
            EmulatorTelemetry.TagServerSpan(caller, Fault.ModelNotFound);
            return OpenAIErrors.WriteAsync(context, StatusCodes.Status404NotFound, OpenAIErrors.ModelNotFound(id));
        }

        EmulatorTelemetry.TagServerSpan(caller, Fault.None);
        return context.Response.WriteAsJsonAsync(ToModel(id), OpenAIJson.Options, context.RequestAborted);
    }

    private static Task? Unauthorized(HttpContext context, ApiKeyCheck apiKey)
    {
        if (apiKey.Check(context.Request, Dialect.OpenAI).Rejection is not { } rejection)
        {
            return null;
        }

        EmulatorTelemetry.TagServerSpan(CallerKey.From(context.Request), Fault.InvalidApiKey);
        return rejection.WriteAsync(context);
    }

    private static ModelInfo ToModel(string id) => new(id, "model", ModelsCreated, "system");
}
