using System.Text.Json.Serialization;
using AspireRetry.OpenAIEmulator.OpenAI;

namespace AspireRetry.OpenAIEmulator.Azure;

/// <summary>Azure's gateway error body: a code and a message, no type or param.</summary>
public sealed record AzureError(string Code, string Message);

public sealed record AzureErrorResponse(AzureError Error);

/// <summary>What Azure sends for a bearer token it refuses: not even an <c>error</c> object.</summary>
public sealed record AzureTokenErrorResponse([property: JsonPropertyName("statusCode")] int StatusCode, string Message);

/// <summary>The errors Azure OpenAI's gateway answers before a model sees the request, worded as Azure words them.</summary>
public static class AzureErrors
{
    public static ErrorReply MissingKey { get; } = Gateway(
        StatusCodes.Status401Unauthorized, "401",
        "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.");

    public static ErrorReply InvalidKey { get; } = Gateway(
        StatusCodes.Status401Unauthorized, "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.");

    public static ErrorReply InvalidToken { get; } = new(
        StatusCodes.Status401Unauthorized,
        new AzureTokenErrorResponse(401, "Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired."));

    /// <summary>Azure answers a deployment path without <c>api-version</c> as an unknown resource, not as a bad request.</summary>
    public static ErrorReply ResourceNotFound { get; } = Gateway(StatusCodes.Status404NotFound, "404", "Resource not found");

    public static ErrorReply DeploymentNotFound { get; } = Gateway(
        StatusCodes.Status404NotFound, "DeploymentNotFound",
        "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.");

    private static ErrorReply Gateway(int statusCode, string code, string message) => new(statusCode, new AzureErrorResponse(new AzureError(code, message)));
}
