using AspireRetry.ChatApi.Chat;
using AspireRetry.ChatApi.OpenAI;
using Microsoft.Extensions.Options;

namespace AspireRetry.ChatApi;

/// <summary>The HTTP surface of ChatApi: thin endpoints over <see cref="ChatService"/>.</summary>
public static class ChatApiEndpoints
{
    public static IEndpointRouteBuilder MapChatApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");

        api.MapGet("/models", (IOptions<OpenAIOptions> options) =>
            TypedResults.Ok(new ModelsReply(options.Value.EffectiveModels, options.Value.DefaultModel)));

        api.MapPost("/chat", async (ChatRequest? request, ChatService chat, IOptions<OpenAIOptions> options, HttpContext http, CancellationToken ct) =>
        {
            if (Invalid(request, options.Value) is { } invalid)
            {
                return invalid;
            }

            var (reply, failure, attempts) = await chat.CompleteAsync(request!, ct);
            return reply is not null ? TypedResults.Ok(reply) : Problem(http, failure!, attempts);
        });

        api.MapPost("/chat/stream", (ChatRequest? request, ChatService chat, IOptions<OpenAIOptions> options, CancellationToken ct) =>
            Invalid(request, options.Value) ?? TypedResults.ServerSentEvents(chat.StreamAsync(request!, ct)));

        return app;
    }

    private static IResult? Invalid(ChatRequest? request, OpenAIOptions options) =>
        ChatRequestValidator.Validate(request, options) is { Count: > 0 } errors
            ? TypedResults.ValidationProblem(errors, title: "The chat request is not valid",
                extensions: new Dictionary<string, object?> { ["traceId"] = System.Diagnostics.Activity.Current?.TraceId.ToHexString(), ["attempts"] = 0 })
            : null;

    private static IResult Problem(HttpContext http, ChatFailure failure, int attempts)
    {
        if (failure.RetryAfter is { } wait)
        {
            // Whole seconds, rounded up, as HTTP wants; the precise value is in the body's retryAfterMs.
            http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return TypedResults.Problem(failure.Detail, statusCode: failure.Status, title: failure.Title, type: $"https://aspireretry.dev/errors/{failure.ErrorType}",
            extensions: new Dictionary<string, object?>
            {
                ["traceId"] = System.Diagnostics.Activity.Current?.TraceId.ToHexString(),
                ["attempts"] = attempts,
                ["retryAfterMs"] = (long?)failure.RetryAfter?.TotalMilliseconds,
            });
    }
}
