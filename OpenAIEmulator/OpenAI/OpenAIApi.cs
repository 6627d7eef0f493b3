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

        v1.MapPost("/chat/completions", (HttpContext context, ModelRequestHandler handler, ChatCompletionsOperation chat) => handler.HandleAsync(context, chat));
        v1.MapPost("/embeddings", (HttpContext context, ModelRequestHandler handler, EmbeddingsOperation embeddings) => handler.HandleAsync(context, embeddings));
        v1.MapPost("/responses", (HttpContext context, ModelRequestHandler handler, ResponsesOperation responses) => handler.HandleAsync(context, responses));
        v1.MapGet("/models", ListModels);
        v1.MapGet("/models/{id}", GetModel);
        v1.MapFallback((HttpContext context) => OpenAIErrors.WriteAsync(
            context,
            StatusCodes.Status404NotFound,
            OpenAIErrors.InvalidRequest($"Invalid URL ({context.Request.Method} {context.Request.Path}).", null, "unknown_url")));

        return app;
    }

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
        if (apiKey.Check(context.Request) is not { } error)
        {
            return null;
        }

        EmulatorTelemetry.TagServerSpan(CallerKey.From(context.Request), Fault.InvalidApiKey);
        return OpenAIErrors.WriteAsync(context, StatusCodes.Status401Unauthorized, error);
    }

    private static ModelInfo ToModel(string id) => new(id, "model", ModelsCreated, "system");
}
