using System.Diagnostics;

namespace AspireRetry.WebFrontend.Components;

/// <summary>
/// Names the trace of something a person did on the page. Blazor starts each UI event's trace with a
/// span called after the handler ("Event onsubmit -> AspireRetry...Chat.SendAsync"), and the dashboard
/// lists traces by that name, so every message would look alike; "Chat message 3 (gpt-4o)" does not.
/// </summary>
public static class UserAction
{
    // Blazor's ActivitySource for component events (ComponentsActivitySource in ASP.NET Core).
    private const string BlazorComponentsSource = "Microsoft.AspNetCore.Components";

    // A name is a title in a list; a queued script can be as long as the person typed it.
    private const int MaxNameLength = 100;

    /// <summary>Renames the span of the UI event being handled; does nothing outside one.</summary>
    public static void Name(string name)
    {
        if (Activity.Current is { Source.Name: BlazorComponentsSource } uiEvent)
        {
            uiEvent.DisplayName = name.Length <= MaxNameLength ? name : string.Concat(name.AsSpan(0, MaxNameLength - 1), "…");
        }
    }
}
