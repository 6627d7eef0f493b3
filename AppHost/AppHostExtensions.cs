using System.Text.Json;
using Aspire.Hosting.ApplicationModel;
using AspireRetry.Contracts;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Aspire.Hosting;

internal static class AppHostExtensions
{
    // Aspire's name for its dashboard resource (KnownResourceNames.AspireDashboard, internal to Aspire.Hosting).
    internal const string DashboardResourceName = "aspire-dashboard";

    /// <summary>This run of the AppHost, new at each start.</summary>
    private static readonly string RunId = Guid.NewGuid().ToString("N");

    /// <summary>
    /// Starts the OpenAI emulator with a generated key and returns the connection string ChatApi reads:
    /// <c>Endpoint={emulator}/v1;Key={key}</c>, so the app exercises the same bearer-key path as OpenAI.
    /// </summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddOpenAIEmulator(
        this IDistributedApplicationBuilder builder, string name, string connectionName, out IResourceBuilder<ProjectResource> emulator)
    {
        var key = builder.AddParameter($"{name}-key", new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true);
        emulator = builder.AddProject<Projects.OpenAIEmulator>(name)
            .WithEnvironment("Emulator__ApiKey", key)
            .WithHttpHealthCheck("/health")
            .WithUrlForEndpoint("http", url => url.DisplayText = "Emulator")
            .WithChaosCommands();

        var connection = builder.AddConnectionString(connectionName,
            ReferenceExpression.Create($"Endpoint={emulator.GetEndpoint("http")}/v1;Key={key}"));
        return connection.WaitFor(emulator);
    }

    /// <summary>
    /// Buttons on the emulator's row in the dashboard's Resources page that switch its chaos profile,
    /// for people who watch the dashboard rather than the chat page.
    /// </summary>
    private static IResourceBuilder<ProjectResource> WithChaosCommands(this IResourceBuilder<ProjectResource> emulator)
    {
        // Every scenario of the chat page's panel, by the same name (the page's label follows whichever is on); Calm removes
        // the profile instead of naming one. A per-message scenario (Rate limited) names the profile, and the page queues
        // its script before each of its messages, as when it is picked there.
        var commands = ChaosScenario.All.Select(scenario => (
            CommandName: "chaos-" + scenario.Id,
            Label: $"Chaos: {scenario.Name}",
            Icon: scenario == ChaosScenario.Calm ? "CheckmarkCircle" : scenario == ChaosScenario.Outage ? "ErrorCircle" : "Warning",
            Scenario: scenario));
        foreach (var (commandName, label, icon, scenario) in commands)
        {
            var profile = scenario == ChaosScenario.Calm ? null : JsonSerializer.Serialize(scenario.ProfileBody());
            emulator.WithHttpCommand("/emulator/chaos", label, commandName: commandName, commandOptions: new HttpCommandOptions
            {
                Method = profile is null ? HttpMethod.Delete : HttpMethod.Put,
                IconName = icon,
                Description = profile is null ? "Every request succeeds again." : $"PUT /emulator/chaos {profile}",
                PrepareRequest = context =>
                {
                    if (profile is not null)
                    {
                        context.Request.Content = new StringContent(profile, System.Text.Encoding.UTF8, "application/json");
                    }

                    return Task.CompletedTask;
                },
            });
        }

        return emulator;
    }

    /// <summary>Tells the frontend where the dashboard is, so each reply can link to its trace.</summary>
    public static IResourceBuilder<ProjectResource> WithDashboardLink(this IResourceBuilder<ProjectResource> project) =>
        project.WithEnvironment(context =>
        {
            if (DashboardUrl(context.ExecutionContext.Services, project.ApplicationBuilder.Configuration) is { } url)
            {
                context.EnvironmentVariables["Dashboard__Url"] = url;
                // The dashboard keeps traces in memory: the page tells a trace link saved in an earlier run by this id.
                context.EnvironmentVariables["Dashboard__RunId"] = RunId;
            }
        });

    // The dashboard is a resource of the model with its own endpoints: on a fixed port under
    // 'dotnet run' (ASPNETCORE_URLS of the launch profile), on a random one under test.
    private static string? DashboardUrl(IServiceProvider services, IConfiguration configuration)
    {
        var dashboard = services.GetService<DistributedApplicationModel>()?.Resources
            .FirstOrDefault(r => r.Name == DashboardResourceName);
        var endpoint = dashboard?.Annotations.OfType<EndpointAnnotation>()
            .Where(e => e.AllocatedEndpoint is not null && e.UriScheme is "http" or "https")
            .OrderBy(e => e.Name.Contains("otlp", StringComparison.OrdinalIgnoreCase))
            .ThenBy(e => e.UriScheme == "https")
            .FirstOrDefault();
        if (endpoint?.AllocatedEndpoint?.UriString is { } allocated)
        {
            return allocated;
        }

        return configuration["ASPNETCORE_URLS"]?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
    }
}
