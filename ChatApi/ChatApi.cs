using AspireRetry.ChatApi.Chat;
using AspireRetry.ChatApi.Protection;
using Microsoft.Extensions.Options;

namespace AspireRetry.ChatApi;

/// <summary>The HTTP surface of ChatApi: thin endpoints over <see cref="ChatService"/>.</summary>
public static class ChatApiEndpoints
{
    public static IEndpointRouteBuilder MapChatApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");

        api.MapGet("/models", (IOptions<ModelOptions> options) =>
            TypedResults.Ok(new ModelsReply(options.Value.EffectiveModels, options.Value.DefaultModel)));

        api.MapPost("/chat", async (HttpContext http, ChatService chat, IOptions<ModelOptions> options, IOptions<ChatLimitsOptions> limits, CancellationToken ct) =>
        {
            var (request, invalid) = await ReadAsync(http, options.Value, limits.Value, ct);
            if (invalid is not null)
            {
                return invalid;
            }

            var (reply, failure, attempts) = await chat.CompleteAsync(request!, ct);
            return reply is not null ? TypedResults.Ok(reply) : Problem(http, failure!, attempts);
        }).RequireRateLimiting(ChatRateLimiting.PolicyName);

        api.MapPost("/chat/stream", async (HttpContext http, ChatService chat, IOptions<ModelOptions> options, IOptions<ChatLimitsOptions> limits, CancellationToken ct) =>
        {
            var (request, invalid) = await ReadAsync(http, options.Value, limits.Value, ct);
            return invalid ?? new ChatEventStreamResult(chat.StreamAsync(request!, ct));
        }).RequireRateLimiting(ChatRateLimiting.PolicyName);

        return app;
    }

    private static async Task<(ChatRequest? Request, IResult? Invalid)> ReadAsync(HttpContext http, ModelOptions options, ChatLimitsOptions limits, CancellationToken ct)
    {
        var (request, error) = await ChatRequestReader.ReadAsync(http, limits, ct);
        if (error is not null)
        {
            return (null, error);
        }

        return ChatRequestValidator.Validate(request, options, limits) is { Count: > 0 } errors
            ? (null, Problems.Invalid(errors))
            : (request, null);
    }

    private static IResult Problem(HttpContext http, ChatFailure failure, int attempts)
    {
        if (failure.RetryAfter is { } wait)
        {
            // Whole seconds, rounded up, as HTTP wants; the precise value is in the body's retryAfterMs.
            http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return TypedResults.Problem(failure.Detail, statusCode: failure.Status, title: failure.Title, type: $"https://aspireretry.dev/errors/{failure.ErrorType}",
            extensions: Problems.Extensions((long?)failure.RetryAfter?.TotalMilliseconds, attempts));
    }
}
