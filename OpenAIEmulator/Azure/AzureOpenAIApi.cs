using AspireRetry.OpenAIEmulator.OpenAI;

namespace AspireRetry.OpenAIEmulator.Azure;

/// <summary>
/// Azure OpenAI's surface under <c>/openai</c>, on the same operations as <c>/v1</c>: the deployment paths
/// (the deployment is the model; <c>api-version</c> required) and the v1 API (OpenAI's paths and bodies).
/// </summary>
public static class AzureOpenAIApi
{
    public static IEndpointRouteBuilder MapAzureOpenAIApi(this IEndpointRouteBuilder app)
    {
        var azure = app.MapGroup("/openai");

        var deployment = azure.MapGroup($"/deployments/{{{ModelRequestHandler.DeploymentRouteValue}}}");
        deployment.MapModelOperation<ChatCompletionsOperation>("/chat/completions", Dialect.AzureDeployment);
        deployment.MapModelOperation<EmbeddingsOperation>("/embeddings", Dialect.AzureDeployment);

        var v1 = azure.MapGroup("/v1");
        v1.MapModelOperation<ChatCompletionsOperation>("/chat/completions", Dialect.AzureV1);
        v1.MapModelOperation<EmbeddingsOperation>("/embeddings", Dialect.AzureV1);
        v1.MapModelOperation<ResponsesOperation>("/responses", Dialect.AzureV1);

        azure.MapFallback(AzureErrors.ResourceNotFound.WriteAsync);
        return app;
    }
}
