using AspireRetry.OpenAIEmulator.OpenAI;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAIEmulator.Stats;

/// <summary>What the emulator saw: counts by outcome and the recent-request log.</summary>
public static class StatsApi
{
    private const int DefaultLimit = 100;

    public static IEndpointRouteBuilder MapStatsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/emulator/stats", (EmulatorStats stats) => stats.Snapshot());

        app.MapPost("/emulator/stats/reset", (string? caller, EmulatorStats stats, RequestLog log) =>
        {
            var scope = string.IsNullOrWhiteSpace(caller) ? null : caller.Trim();
            stats.Reset(scope);
            log.Clear(scope);
            return stats.Snapshot();
        });

        app.MapGet("/emulator/requests", (string? caller, int? limit, RequestLog log, IOptions<EmulatorOptions> options) =>
        {
            var capacity = options.Value.RequestLogCapacity;
            if (limit is < 1)
            {
                return Results.Json(
                    new OpenAIErrorResponse(OpenAIErrors.InvalidRequest($"limit must be between 1 and {capacity}, but was {limit}.", "limit", "invalid_value")),
                    OpenAIJson.Options,
                    statusCode: StatusCodes.Status400BadRequest);
            }

            var scope = string.IsNullOrWhiteSpace(caller) ? null : caller.Trim();
            return Results.Ok(log.Recent(scope, Math.Min(limit ?? DefaultLimit, capacity)));
        });

        return app;
    }
}
