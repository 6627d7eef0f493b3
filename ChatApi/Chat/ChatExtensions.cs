using Microsoft.Extensions.Options;

namespace AspireRetry.ChatApi.Chat;

public static class ChatExtensions
{
    /// <summary>The models users may pick (section <c>OpenAI</c>, validated at start-up) and <see cref="ChatService"/>.</summary>
    public static IHostApplicationBuilder AddChat(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ModelOptions>()
            .Bind(builder.Configuration.GetSection(ModelOptions.SectionName))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ModelOptions>, ModelOptionsValidator>();
        builder.Services.AddSingleton<ChatMetrics>();
        builder.Services.AddSingleton<ModelFallback>();
        builder.Services.AddSingleton<ChatStream>();
        builder.Services.AddSingleton<ChatService>();
        return builder;
    }
}
