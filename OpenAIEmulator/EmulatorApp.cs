using AspireRetry.OpenAIEmulator.Azure;
using AspireRetry.OpenAIEmulator.Chaos;
using AspireRetry.OpenAIEmulator.OpenAI;
using AspireRetry.OpenAIEmulator.Stats;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace AspireRetry.OpenAIEmulator;

/// <summary>Builds the emulator, for Program.cs and for tests and benchmarks that host it in-process.</summary>
public static class EmulatorApp
{
    /// <summary>
    /// Builds the full emulator app (all services and endpoints). <paramref name="args"/> are normal
    /// host arguments, e.g. <c>--urls=http://127.0.0.1:0</c>, <c>--Emulator:ApiKey=x</c>;
    /// <paramref name="configure"/> runs after the emulator's registrations, so it can replace them.
    /// </summary>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            // In-process hosts would otherwise take the test or benchmark assembly's name.
            ApplicationName = typeof(EmulatorApp).Assembly.GetName().Name,
        });

        builder.AddServiceDefaults();
        builder.AddOpenAIEmulator();
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseOpenAIResponseHeaders();
        app.MapDefaultEndpoints();
        app.MapOpenAIApi();
        app.MapAzureOpenAIApi();
        app.MapChaosApi();
        app.MapStatsApi();
        return app;
    }

    /// <summary>The address the started app listens on (wildcard hosts become localhost), e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public static Uri GetBaseAddress(this WebApplication app)
    {
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("The emulator has no bound address yet: call StartAsync first.");
        var uri = new UriBuilder(address.Replace("://+", "://localhost", StringComparison.Ordinal).Replace("://*", "://localhost", StringComparison.Ordinal));
        if (uri.Host is "0.0.0.0" or "[::]" or "::")
        {
            uri.Host = "localhost";
        }

        return uri.Uri;
    }
}
