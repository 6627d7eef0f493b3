namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>An error answer, its body in the shape of the dialect that sends it (OpenAI's, or one of Azure's).</summary>
public sealed record ErrorReply(int StatusCode, object Body)
{
    public static ErrorReply OpenAI(int statusCode, OpenAIError error) => new(statusCode, new OpenAIErrorResponse(error));

    public Task WriteAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCode;
        return context.Response.WriteAsJsonAsync(Body, OpenAIJson.Options, context.RequestAborted);
    }
}
