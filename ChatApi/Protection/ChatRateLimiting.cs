using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace AspireRetry.ChatApi.Protection;

/// <summary>
/// Section <c>Chat:RateLimit</c>: ChatApi's own admission control, in front of the upstream budget. A client
/// that sends too fast gets 429 with Retry-After before any upstream call; too many chats at once get 503.
/// </summary>
public sealed class ChatRateLimitOptions
{
    public const string SectionName = "Chat:RateLimit";

    /// <summary>Off only to measure without it.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Chat requests one client may start per window: one every two seconds on average, bursts allowed.</summary>
    public int PermitsPerWindow { get; set; } = 30;

    /// <summary>The window of <see cref="PermitsPerWindow"/>.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Chats in flight in this process, all clients together. Each holds an upstream request and a
    /// stream open; past this many, the next one is refused at once rather than queued behind them.
    /// </summary>
    public int MaxConcurrentChats { get; set; } = 100;
}

internal sealed class ChatRateLimitOptionsValidator : IValidateOptions<ChatRateLimitOptions>
{
    public ValidateOptionsResult Validate(string? name, ChatRateLimitOptions o)
    {
        const string p = ChatRateLimitOptions.SectionName;
        List<string> errors = [];
        if (o.PermitsPerWindow < 1) errors.Add($"{p}:PermitsPerWindow must be at least 1 (was {o.PermitsPerWindow}).");
        if (o.Window < TimeSpan.FromMilliseconds(100)) errors.Add($"{p}:Window must be at least 100 ms (was {o.Window}).");
        if (o.MaxConcurrentChats < 1) errors.Add($"{p}:MaxConcurrentChats must be at least 1 (was {o.MaxConcurrentChats}).");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

public static class ChatRateLimiting
{
    public const string PolicyName = "chat";

    public static IServiceCollection AddChatRateLimiting(this IServiceCollection services)
    {
        services.AddSingleton<IValidateOptions<ChatRateLimitOptions>, ChatRateLimitOptionsValidator>();
        services.AddOptions<ChatRateLimitOptions>().BindConfiguration(ChatRateLimitOptions.SectionName).ValidateOnStart();

        services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(PolicyName, http =>
            {
                var o = http.RequestServices.GetRequiredService<IOptions<ChatRateLimitOptions>>().Value;
                if (!o.Enabled)
                {
                    return RateLimitPartition.GetNoLimiter("off");
                }

                return RateLimitPartition.GetFixedWindowLimiter(ClientKey(http), _ => new FixedWindowRateLimiterOptions
                {
                    PermitLimit = o.PermitsPerWindow,
                    Window = o.Window,
                    QueueLimit = 0,
                });
            });

            // One concurrency gate for all chats; other endpoints (models, health) pass freely.
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
            {
                var o = http.RequestServices.GetRequiredService<IOptions<ChatRateLimitOptions>>().Value;
                return o.Enabled && http.Request.Path.StartsWithSegments("/api/chat")
                    ? RateLimitPartition.GetConcurrencyLimiter("chats", _ => new ConcurrencyLimiterOptions { PermitLimit = o.MaxConcurrentChats, QueueLimit = 0 })
                    : RateLimitPartition.GetNoLimiter("other");
            });

            limiter.OnRejected = RejectAsync;
        });
        return services;
    }

    // Who "a client" is: the X-Chat-Client header the chat page sends (one key per open page), else the
    // remote address. ChatApi is not exposed outside the app; only the frontend and tools reach it.
    private static string ClientKey(HttpContext http) =>
        http.Request.Headers[ChatApiHeaders.Client].ToString() is { Length: > 0 and <= 128 } client
            ? $"client:{client}"
            : $"address:{http.Connection.RemoteIpAddress}";

    private static async ValueTask RejectAsync(OnRejectedContext context, CancellationToken cancellationToken)
    {
        var http = context.HttpContext;
        var o = http.RequestServices.GetRequiredService<IOptions<ChatRateLimitOptions>>().Value;
        const string p = ChatRateLimitOptions.SectionName;

        // The fixed window knows when it reopens; the concurrency gate does not, so a second is a fair guess.
        var byRate = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait);
        var retryAfter = byRate ? wait : TimeSpan.FromSeconds(1);
        var (status, title, detail) = byRate
            ? (StatusCodes.Status429TooManyRequests, "Too many chat requests",
                $"This client may start {o.PermitsPerWindow} chats per {o.Window.TotalSeconds:0.###} s ({p}:PermitsPerWindow, {p}:Window). No upstream call was made.")
            : (StatusCodes.Status503ServiceUnavailable, "ChatApi is busy",
                $"{o.MaxConcurrentChats} chats are already in progress ({p}:MaxConcurrentChats). No upstream call was made.");

        http.Response.StatusCode = status;
        http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        await TypedResults.Problem(detail, statusCode: status, title: title, extensions: Problems.Extensions((long)retryAfter.TotalMilliseconds))
            .ExecuteAsync(http);
    }
}
