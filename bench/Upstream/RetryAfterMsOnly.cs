using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace AspireRetry.Bench.Upstream;

/// <summary>
/// Makes the emulator's waits speak <c>retry-after-ms</c> alone. Its <c>retry-after</c> is whole
/// seconds rounded up, and in a run where a scenario second lasts 200 ms, "1 s" means five scenario
/// seconds: every client that reads it would wait up to five times too long, which no real server
/// does. So the run tests the scenario the issue names, a rate limit told in <c>retry-after-ms</c>.
/// </summary>
internal sealed class RetryAfterMsOnly : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use((context, nextMiddleware) =>
        {
            context.Response.OnStarting(() =>
            {
                if (context.Response.Headers.ContainsKey("retry-after-ms"))
                {
                    context.Response.Headers.Remove("retry-after");
                }

                return Task.CompletedTask;
            });
            return nextMiddleware(context);
        });
        next(app);
    };
}
