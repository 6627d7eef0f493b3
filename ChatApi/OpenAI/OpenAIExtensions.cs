using Microsoft.Extensions.Options;

namespace AspireRetry.ChatApi.OpenAI;

public static class OpenAIExtensions
{
    /// <summary>
    /// Registers the upstream connection (from ConnectionStrings:openai), the options of section
    /// OpenAI (validated at start-up), the "openai" HttpClient with the one retry layer, and the chat clients.
    /// </summary>
    public static IHostApplicationBuilder AddOpenAIChat(this IHostApplicationBuilder builder)
    {
        // Parsed now, so a missing or malformed connection string stops start-up with a message that names it.
        var connection = OpenAIConnection.Parse(builder.Configuration.GetConnectionString(OpenAIConnection.Name));
        builder.Services.AddSingleton(connection);

        builder.Services.AddOptions<OpenAIOptions>()
            .Bind(builder.Configuration.GetSection(OpenAIOptions.SectionName))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<OpenAIOptions>, ResilienceOptionsValidator>();

        builder.Services.AddHttpClient(ChatClientProvider.HttpClientName, client =>
            {
                // The pipeline's TotalTimeout is the budget; HttpClient's own 100 s would cut it short.
                client.Timeout = Timeout.InfiniteTimeSpan;
            })
            .AddOpenAIResilience();

        builder.Services.AddSingleton<ChatClientProvider>();
        return builder;
    }
}
