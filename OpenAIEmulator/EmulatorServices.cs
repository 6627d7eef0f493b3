using AspireRetry.OpenAIEmulator.Chaos;
using AspireRetry.OpenAIEmulator.OpenAI;
using AspireRetry.OpenAIEmulator.RateLimiting;
using AspireRetry.OpenAIEmulator.Stats;
using System.Text.Encodings.Web;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAIEmulator;

public static class EmulatorServices
{
    /// <summary>Registers the emulator: options (validated at start-up), chaos, rate limiter, stats.</summary>
    public static IHostApplicationBuilder AddOpenAIEmulator(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<EmulatorOptions>()
            .BindConfiguration(EmulatorOptions.SectionName)
            .PostConfigure(options =>
            {
                if (options.Models.Count == 0)
                {
                    options.Models.AddRange(EmulatorOptions.DefaultModels);
                }

                if (options.EmbeddingModels.Count == 0)
                {
                    options.EmbeddingModels.AddRange(EmulatorOptions.DefaultEmbeddingModels);
                }
            })
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<EmulatorOptions>, EmulatorOptionsValidator>();

        // The operator endpoints' JSON is read by tools and people, never embedded in HTML.
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping);

        // Tests swap in a FakeTimeProvider to drive the token buckets and delays.
        builder.Services.TryAddSingleton(TimeProvider.System);

        builder.Services.AddSingleton<ChaosScript>();
        builder.Services.AddSingleton<RateLimitBuckets>();
        builder.Services.AddSingleton<ChaosEngine>();
        builder.Services.AddSingleton<OutcomeApplier>();
        builder.Services.AddSingleton<CompletionWriter>();
        builder.Services.AddSingleton<ApiKeyCheck>();
        builder.Services.AddSingleton<ModelRequestHandler>();
        builder.Services.AddSingleton<ChatCompletionsOperation>();
        builder.Services.AddSingleton<EmbeddingsOperation>();
        builder.Services.AddSingleton<ResponsesWriter>();
        builder.Services.AddSingleton<ResponsesOperation>();
        builder.Services.AddSingleton<EmulatorStats>();
        builder.Services.AddSingleton<RequestLog>();
        return builder;
    }
}
