namespace AspireRetry.WebFrontend.Services;

/// <summary>Section <c>Dashboard</c>: where the Aspire dashboard is, so each reply can link to its trace.</summary>
public sealed class DashboardOptions
{
    public const string SectionName = "Dashboard";

    /// <summary>Base URL of the dashboard (the AppHost sets it); no trace links when empty.</summary>
    public string? Url { get; set; }

    /// <summary>
    /// This run of the app (the AppHost sets a new one at each start): the dashboard keeps traces in memory, so a reply
    /// saved in an earlier run links to a trace that is gone.
    /// </summary>
    public string? RunId { get; set; }

    public string? TraceUrl(string? traceId) =>
        string.IsNullOrEmpty(Url) || string.IsNullOrEmpty(traceId) ? null : $"{Url.TrimEnd('/')}/traces/detail/{traceId}";
}
