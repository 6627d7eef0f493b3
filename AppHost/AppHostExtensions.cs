using Aspire.Hosting.ApplicationModel;

namespace Aspire.Hosting;

internal static class AppHostExtensions
{
    /// <summary>
    /// Starts the OpenAI emulator with a generated key and returns the connection string ChatApi reads:
    /// <c>Endpoint={emulator}/v1;Key={key}</c>, so the app exercises the same bearer-key path as OpenAI.
    /// </summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddOpenAIEmulator(
        this IDistributedApplicationBuilder builder, string name, string connectionName)
    {
        var key = builder.AddParameter($"{name}-key", new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true);
        var emulator = builder.AddProject<Projects.OpenAIEmulator>(name)
            .WithEnvironment("Emulator__ApiKey", key)
            .WithHttpHealthCheck("/health")
            .WithUrlForEndpoint("http", url => url.DisplayText = "Emulator");

        var connection = builder.AddConnectionString(connectionName,
            ReferenceExpression.Create($"Endpoint={emulator.GetEndpoint("http")}/v1;Key={key}"));
        return connection.WaitFor(emulator);
    }

    /// <summary>Tells the frontend where the dashboard is, so each reply can link to its trace.</summary>
    public static IResourceBuilder<ProjectResource> WithDashboardLink(this IResourceBuilder<ProjectResource> project) =>
        project.WithEnvironment(context =>
        {
            var urls = project.ApplicationBuilder.Configuration["ASPNETCORE_URLS"];
            if (urls?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() is { } url)
            {
                context.EnvironmentVariables["Dashboard__Url"] = url;
            }
        });
}
