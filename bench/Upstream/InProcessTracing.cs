using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Instrumentation.AspNetCore;

namespace AspireRetry.Bench.Upstream;

/// <summary>
/// Keeps ChatApi's tracing to ChatApi's own work when the emulator shares its process. An OpenTelemetry
/// tracer listens process-wide, so without this ChatApi would also record a server span for every
/// request the in-process emulator serves, a cost it never pays against a real, remote upstream.
/// </summary>
public static class InProcessTracing
{
    public static IServiceCollection IgnoreEmulatorRequests(this IServiceCollection services) =>
        services.Configure<AspNetCoreTraceInstrumentationOptions>(options =>
        {
            var previous = options.Filter;
            options.Filter = context => !IsEmulatorPath(context.Request.Path) && (previous?.Invoke(context) ?? true);
        });

    private static bool IsEmulatorPath(PathString path) =>
        path.StartsWithSegments("/v1") || path.StartsWithSegments("/emulator");
}
