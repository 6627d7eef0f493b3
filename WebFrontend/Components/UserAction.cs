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

    /// <summary>
    /// A message's span once its reply has ended, so the trace list tells the outcomes apart without opening them: a reply
    /// answered at the first attempt keeps <paramref name="name"/>; one answered after retries is
    /// "Chat message 3 (gpt-4o) - 3 attempts" with status Ok (an application may mark its own span successful; the failed
    /// attempts under it stay errors); a failed one is "... - failed after 5 attempts" with status Error; a stopped or
    /// interrupted one says so.
    /// </summary>
    public static void Ended(string name, Pages.ChatEntry reply)
    {
        if (Activity.Current is not { Source.Name: BlazorComponentsSource } uiEvent)
        {
            return;
        }

        var attempts = reply.Attempts == 1 ? "1 attempt" : $"{reply.Attempts} attempts";
        if (reply.Error is { } error)
        {
            Name(reply.Attempts > 0 ? $"{name} - failed after {attempts}" : $"{name} - failed");
            uiEvent.SetStatus(ActivityStatusCode.Error, error.Title);
        }
        else if (reply.Stopped || reply.Interrupted)
        {
            Name($"{name} - stopped");
        }
        else
        {
            if (reply.Attempts > 1)
            {
                Name($"{name} - {attempts}");
            }

            uiEvent.SetStatus(ActivityStatusCode.Ok);
        }
    }

    /// <summary>Renames the span of the UI event being handled; does nothing outside one.</summary>
    public static void Name(string name)
    {
        if (Activity.Current is { Source.Name: BlazorComponentsSource } uiEvent)
        {
            uiEvent.DisplayName = name.Length <= MaxNameLength ? name : string.Concat(name.AsSpan(0, MaxNameLength - 1), "…");
        }
    }
}
