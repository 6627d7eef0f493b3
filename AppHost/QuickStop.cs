using System.Diagnostics;
using System.Globalization;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Aspire.Hosting;

internal static class QuickStopExtensions
{
    /// <summary>
    /// Ctrl+C stops every service before the AppHost exits, and says so. Left to itself the AppHost exits at once and
    /// Aspire's orchestrator notices later and cleans up: 12-20 s on a 2-core machine with nothing printed, the ports
    /// held meanwhile (a second <c>dotnet run</c> then finds them taken).
    /// </summary>
    public static IDistributedApplicationBuilder WithQuickStop(this IDistributedApplicationBuilder builder)
    {
        builder.Services.AddHostedService<QuickStop>();
        return builder;
    }
}

/// <summary>
/// Registered after Aspire's own services, so it is stopped before them: it asks the orchestrator to stop each service
/// (the dashboard's Stop command) while it still answers, all at once, and waits at most <see cref="Patience"/>.
/// </summary>
internal sealed partial class QuickStop(DistributedApplicationModel model, ResourceCommandService commands, ILogger<QuickStop> logger) : IHostedService
{
    /// <summary>How long Ctrl+C waits for the services; what has not stopped by then is left to the orchestrator.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(4);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // The services a person sees on the Resources page: not the dashboard (it closes with the AppHost) nor the helpers
        // Aspire starts only on request (each project's hidden "rebuilder").
        var services = model.Resources
            .Where(r => r is ProjectResource or ExecutableResource && r.Name != AppHostExtensions.DashboardResourceName)
            .Where(r => !r.HasAnnotationOfType<ExplicitStartupAnnotation>())
            .ToList();
        if (services.Count == 0)
        {
            return;
        }

        LogStopping(logger, string.Join(", ", services.Select(s => s.Name)));
        var watch = Stopwatch.StartNew();
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        patience.CancelAfter(Patience);
        var results = await Task.WhenAll(services.Select(service => StopAsync(service, patience.Token)));
        var left = services.Where((_, i) => !results[i]).Select(s => s.Name).ToList();
        var seconds = watch.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);
        if (left.Count == 0)
        {
            LogStopped(logger, seconds);
        }
        else
        {
            LogLeft(logger, seconds, string.Join(", ", left));
        }
    }

    private async Task<bool> StopAsync(IResource service, CancellationToken cancellationToken)
    {
        try
        {
            return (await commands.ExecuteCommandAsync(service, KnownResourceCommands.StopCommand, cancellationToken)).Success;
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping {Services}")]
    private static partial void LogStopping(ILogger logger, string services);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopped them in {Seconds} s; the dashboard closes with the AppHost")]
    private static partial void LogStopped(ILogger logger, string seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stopped in {Seconds} s, except {Services}: Aspire's orchestrator ends them")]
    private static partial void LogLeft(ILogger logger, string seconds, string services);
}
