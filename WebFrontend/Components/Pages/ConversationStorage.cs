using System.Text.Json;
using AspireRetry.WebFrontend.Services;
using Microsoft.JSInterop;

namespace AspireRetry.WebFrontend.Components.Pages;

/// <summary>
/// Keeps the conversation in the browser's localStorage, so a reload or a dropped circuit loses
/// nothing: text, attempts, waits and trace links come back. A reply that was still streaming when
/// the page went away comes back once, marked as interrupted, with the text that had arrived: the
/// conversation is saved whole when something other than text happens (a message, an attempt, the
/// end), and the streaming reply's text is appended delta by delta under a key of its own, so the cost
/// of a delta does not grow with the conversation. Nothing here reaches the server: the conversation
/// stays on the person's machine.
/// </summary>
public sealed class ConversationStorage(IJSObjectReference module, ILogger logger, string? run = null)
{
    /// <summary>The localStorage key; one conversation per browser profile and origin.</summary>
    public const string Key = "aspireretry.conversation";

    /// <summary>The deltas of the streaming reply since the last whole save.</summary>
    public const string StreamingKey = "aspireretry.conversation.streaming";

    private const int FormatVersion = 1;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task<List<ChatEntry>> LoadAsync()
    {
        string? json;
        string? streamed;
        try
        {
            json = await module.InvokeAsync<string?>("load", Key);
            streamed = await module.InvokeAsync<string?>("load", StreamingKey);
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

            List<ChatEntry> restored = [.. entries.Where(e => e is { Role: "user" or "assistant", Text: not null }).Select(Restore)];
            if (restored.LastOrDefault() is { Interrupted: true } cut && streamed is { Length: > 0 })
            {
                cut.Text += streamed; // the deltas that arrived after the last whole save
            }

            return restored;
        }
        catch (JsonException ex)
        {
            // Edited by hand or cut short: start afresh rather than fail the page.
            logger.LogWarning(ex, "The saved conversation is not valid JSON and was not restored");
            return [];
        }
    }

    /// <summary>Saves the whole conversation; the streaming reply's own text starts again from it.</summary>
    public async Task SaveAsync(IEnumerable<ChatEntry> entries)
    {
        var json = JsonSerializer.Serialize(new SavedConversation(FormatVersion, [.. entries.Select(Save)]), Json);
        await RunAsync("save", Key, json);
    }

    /// <summary>
    /// Keeps one more delta of the streaming reply. Not awaited by the page: the call goes out on the
    /// circuit before the render of the same delta, so what a person saw is what a reload brings back.
    /// </summary>
    public Task AppendAsync(string delta) => RunAsync("append", StreamingKey, delta);

    /// <summary>Starts the streaming reply's text afresh (a new reply, or none).</summary>
    public Task ResetStreamingAsync() => RunAsync("clear", StreamingKey, null);

    public async Task ClearAsync()
    {
        await RunAsync("clear", Key, null);
        await ResetStreamingAsync();
    }

    private async Task RunAsync(string function, string key, string? value)
    {
        try
        {
            if (!await module.InvokeAsync<bool>(function, key, value))
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

    // Each entry is saved with the app run it was answered in (the AppHost's run id), kept across later saves.
    private SavedEntry Save(ChatEntry e) => new(e.Role, e.Text, e.Model, e.MaxAttempts, e.Attempts, e.TraceId, e.Usage, e.WaitedMs,
        e.Latency is { } latency ? (long)latency.TotalMilliseconds : null,
        e.Error is { } error ? new SavedError(error.Status, error.Title, error.Detail, error.RetryAfterMs) : null,
        e.Stopped, e.Interrupted || e.InProgress, e.Upstream, e.Run ?? run);

    private ChatEntry Restore(SavedEntry s) => new(s.Role!, s.Text!)
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
        Upstream = s.Upstream,
        Run = s.Run,
        // The dashboard keeps traces in memory: one from an earlier run of the app (or saved before runs were recorded) is gone.
        FromEarlierRun = run is not null && s.Run != run,
    };

    private sealed record SavedConversation(int Version, List<SavedEntry>? Entries);

    private sealed record SavedEntry(string? Role, string? Text, string? Model, int MaxAttempts, int Attempts, string? TraceId, UsageInfo? Usage,
        long WaitedMs, long? LatencyMs, SavedError? Error, bool Stopped, bool Interrupted, string? Upstream = null, string? Run = null);

    private sealed record SavedError(int Status, string? Title, string? Detail, long? RetryAfterMs);
}
