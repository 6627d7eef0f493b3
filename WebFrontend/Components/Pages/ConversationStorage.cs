using System.Text.Json;
using AspireRetry.WebFrontend.Services;
using Microsoft.JSInterop;

namespace AspireRetry.WebFrontend.Components.Pages;

/// <summary>
/// Keeps the conversation in the browser's localStorage, so a reload or a dropped circuit loses
/// nothing: text, attempts, waits and trace links come back. A reply that was still streaming when
/// the page went away comes back once, marked as interrupted, with the text that had arrived.
/// Nothing here reaches the server: the conversation stays on the person's machine.
/// </summary>
public sealed class ConversationStorage(IJSObjectReference module, ILogger logger)
{
    /// <summary>The localStorage key; one conversation per browser profile and origin.</summary>
    public const string Key = "aspireretry.conversation";

    private const int FormatVersion = 1;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task<List<ChatEntry>> LoadAsync()
    {
        string? json;
        try
        {
            json = await module.InvokeAsync<string?>("load", Key);
        }
        catch (Exception ex) when (ex is JSException or JSDisconnectedException or TaskCanceledException)
        {
            logger.LogWarning(ex, "The saved conversation could not be read from the browser");
            return [];
        }

        if (string.IsNullOrEmpty(json))
        {
            return [];
        }

        try
        {
            var saved = JsonSerializer.Deserialize<SavedConversation>(json, Json);
            if (saved is not { Version: FormatVersion, Entries: { } entries })
            {
                logger.LogWarning("The saved conversation has an unknown format and was not restored");
                return [];
            }

            return [.. entries.Where(e => e is { Role: "user" or "assistant", Text: not null }).Select(Restore)];
        }
        catch (JsonException ex)
        {
            // Edited by hand or cut short: start afresh rather than fail the page.
            logger.LogWarning(ex, "The saved conversation is not valid JSON and was not restored");
            return [];
        }
    }

    public async Task SaveAsync(IEnumerable<ChatEntry> entries)
    {
        var json = JsonSerializer.Serialize(new SavedConversation(FormatVersion, [.. entries.Select(Save)]), Json);
        await RunAsync("save", json);
    }

    public Task ClearAsync() => RunAsync("clear", null);

    private async Task RunAsync(string function, string? json)
    {
        try
        {
            if (!await module.InvokeAsync<bool>(function, Key, json))
            {
                logger.LogWarning("The browser refused to store the conversation (storage full or disabled)");
            }
        }
        catch (Exception ex) when (ex is JSException or JSDisconnectedException or TaskCanceledException or ObjectDisposedException)
        {
            // The tab is going away; what was saved before is what a reload shows.
            logger.LogDebug(ex, "The conversation was not saved: the page is gone");
        }
    }

    private static SavedEntry Save(ChatEntry e) => new(e.Role, e.Text, e.Model, e.MaxAttempts, e.Attempts, e.TraceId, e.Usage, e.WaitedMs,
        e.Latency is { } latency ? (long)latency.TotalMilliseconds : null,
        e.Error is { } error ? new SavedError(error.Status, error.Title, error.Detail, error.RetryAfterMs) : null,
        e.Stopped, e.Interrupted || e.InProgress);

    private static ChatEntry Restore(SavedEntry s) => new(s.Role!, s.Text!)
    {
        Model = s.Model,
        MaxAttempts = s.MaxAttempts,
        Attempts = s.Attempts,
        TraceId = s.TraceId,
        Usage = s.Usage,
        WaitedMs = s.WaitedMs,
        Latency = s.LatencyMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null,
        Error = s.Error is { } error ? new ErrorEvent(error.Status, error.Title ?? "", error.Detail ?? "", error.RetryAfterMs, s.Attempts, s.TraceId) : null,
        Stopped = s.Stopped,
        // Saved while streaming: the rest of that reply never arrived, and it is not asked for again.
        Interrupted = s.Interrupted,
    };

    private sealed record SavedConversation(int Version, List<SavedEntry>? Entries);

    private sealed record SavedEntry(string? Role, string? Text, string? Model, int MaxAttempts, int Attempts, string? TraceId, UsageInfo? Usage,
        long WaitedMs, long? LatencyMs, SavedError? Error, bool Stopped, bool Interrupted);

    private sealed record SavedError(int Status, string? Title, string? Detail, long? RetryAfterMs);
}
