using AspireRetry.OpenAI.Resilience;
using Microsoft.Extensions.Options;

namespace AspireRetry.ChatApi.Chat;

public static class ChatExtensions
{
    /// <summary>
    /// The models users may pick (section <c>OpenAI</c>, validated at start-up), a chat client for each of them and for
    /// the fallback model (keyed by the model, from the retry library's <paramref name="openai"/>), and <see cref="ChatService"/>.
    /// </summary>
    public static IHostApplicationBuilder AddChat(this IHostApplicationBuilder builder, ResilientOpenAIBuilder openai)
    {
        var models = builder.Configuration.GetSection(ModelOptions.SectionName).Get<ModelOptions>() ?? new ModelOptions();
        // The fallback is ChatApi's (the library only hands out clients): its key moved, and a setting left at the old one
        // would silently do nothing.
        if (builder.Configuration[$"{ResilienceOptions.SectionName}:FallbackModel"] is not null)
        {
            throw new InvalidOperationException(
                $"{ResilienceOptions.SectionName}:FallbackModel has moved to {ModelOptions.SectionName}:FallbackModel (the fallback is ChatApi's, not the retry library's): set that instead.");
        }

        var fallback = models.FallbackModel;
        foreach (var model in models.EffectiveModels.Append(fallback).OfType<string>().Where(m => !string.IsNullOrWhiteSpace(m)).Distinct(StringComparer.Ordinal))
        {
            openai.AddKeyedChatClient(model, model);
        }

        builder.Services.AddSingleton<ChatModels>();
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
