using AspireRetry.WebFrontend.Services;

namespace AspireRetry.WebFrontend.Components.Pages;

/// <summary>
/// The conversation behind the chat page and what a person does to it: send a message and stream its
/// reply, stop the reply, start afresh. The page is markup over it (as eShop's <c>Chatbot.razor</c> over
/// <c>ChatState</c>), so the loop can be tested without a browser. One per page, on its circuit: one
/// message streams at a time.
/// </summary>
public sealed class ChatSession(ChatApiClient chatApi) : IDisposable
{
    // The model sees the newest turns of a long conversation, not all of them: ChatApi refuses a request
    // over its Chat:Limits (100 messages by default), and a conversation should not stop working at its
    // 51st exchange. Twenty exchanges are plenty of context for a chat.
    private const int HistoryTurns = 40;

    private readonly List<ChatEntry> _entries = [];
    private List<ChatEntry>? _cleared;
    private CancellationTokenSource? _cancel;
    private ConversationStorage? _storage;
    private bool _disposed;

    /// <summary>
    /// This page's key at the emulator (W3C baggage emulator.caller): what the chaos panel scripts here
    /// happens to this page's messages, not to another tab's.
    /// </summary>
    public string Caller { get; } = $"chat-{Guid.NewGuid():N}";

    public IReadOnlyList<ChatEntry> Entries => _entries;

    /// <summary>New chat cleared a conversation that Undo can bring back (until the next message is sent).</summary>
    public bool CanUndoNewChat => _cleared is not null;

    /// <summary>A reply is streaming: the page offers Stop instead of Send.</summary>
    public bool Sending { get; private set; }

    /// <summary>Brings back the conversation the browser kept, and keeps it there from now on.</summary>
    public async Task RestoreAsync(ConversationStorage storage)
    {
        _storage = storage;
        var restored = await storage.LoadAsync();
        _entries.InsertRange(0, restored);
        if (restored.Any(e => e.Interrupted))
        {
            await SaveAsync(); // an interrupted reply stays marked, and is never resumed
        }
    }

    /// <summary>
    /// Sends <paramref name="input"/> to <paramref name="model"/> with the conversation so far and streams
    /// the reply into a new entry; returns when the reply has ended (done, error, Stop or the page gone).
    /// Does nothing while a reply is streaming or when the input is blank.
    /// </summary>
    /// <param name="onSending">
    /// Called once the message and its pending reply are in <see cref="Entries"/>, before anything is awaited:
    /// the page empties the composer and renders once. The reply re-renders on its own after that.
    /// </param>
    /// <param name="beforeStream">Runs ahead of the request, inside the message's trace (the chaos panel's per-message script).</param>
    public async Task SendAsync(string input, string model, Action onSending, Func<Task> beforeStream)
    {
        var text = input.Trim();
        if (Sending || text.Length == 0)
        {
            return;
        }

        _cleared = null; // a new conversation has begun: the cleared one is gone for good
        _entries.Add(new ChatEntry("user", text));
        var history = _entries.Where(e => e.IsUser || e.IsComplete).Select(e => new ChatTurn(e.Role, e.Text)).TakeLast(HistoryTurns).ToList();
        var name = $"Chat message {_entries.Count(e => e.IsUser)} ({model})";
        UserAction.Name(name);
        var reply = new ChatEntry("assistant") { InProgress = true, Model = model, Status = "Sending…" };
        _entries.Add(reply);
        Sending = true;
        _cancel = new CancellationTokenSource();
        onSending();
        await SaveAsync();

        try
        {
            await beforeStream();

            await foreach (var e in chatApi.StreamAsync(model, history, Caller, _cancel.Token))
            {
                reply.Apply(e);
                if (e is DeltaEvent delta)
                {
                    _ = _storage?.AppendAsync(delta.Text); // see AppendAsync: sent ahead of the render, not awaited
                    reply.NotifyChanged();
                }
                else
                {
                    reply.NotifyChanged();
                    await SaveAsync();
                }
            }
        }
        catch (OperationCanceledException) when (_cancel.IsCancellationRequested)
        {
            // Stop, or the page going away (its last save already says "interrupted").
            reply.Stopped = !_disposed;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or System.Text.Json.JsonException)
        {
            reply.Error = new ErrorEvent(0, "ChatApi connection lost", "The connection to ChatApi broke before the reply finished.", null, reply.Attempts, reply.TraceId);
        }
        finally
        {
            if (reply.InProgress)
            {
                reply.Stopped |= reply.Error is null;
                reply.Finish();
            }

            reply.NotifyChanged();
            Sending = false;
            _cancel.Dispose();
            _cancel = null;
            UserAction.Ended(name, reply);
        }

        if (!_disposed)
        {
            await SaveAsync();
        }
    }

    /// <summary>Stops the streaming reply; what arrived stays, marked as stopped.</summary>
    public void Stop()
    {
        UserAction.Name("Stop reply");
        _cancel?.Cancel();
    }

    /// <summary>
    /// Clears the conversation, here and in the browser; not while a reply is streaming. <see cref="UndoNewChatAsync"/>
    /// brings it back until the next message is sent (or the page is left: it is kept on this page only).
    /// </summary>
    public async Task NewChatAsync()
    {
        UserAction.Name("New chat");
        if (!Sending && _entries.Count > 0)
        {
            _cleared = [.. _entries];
            _entries.Clear();
            if (_storage is not null)
            {
                await _storage.ClearAsync();
            }
        }
    }

    /// <summary>Brings back the conversation New chat cleared, here and in the browser.</summary>
    public async Task UndoNewChatAsync()
    {
        UserAction.Name("Undo new chat");
        if (_cleared is { } cleared && !Sending)
        {
            _cleared = null;
            _entries.InsertRange(0, cleared);
            await SaveAsync();
        }
    }

    /// <summary>
    /// The page went away: the streaming reply's call is cancelled and nothing is saved after it, so a reload
    /// finds the reply as last saved, still streaming, and shows it as interrupted.
    /// </summary>
    public void Dispose()
    {
        _disposed = true;
        _cancel?.Cancel();
    }

    private async Task SaveAsync()
    {
        if (_storage is not null)
        {
            await _storage.SaveAsync(_entries);
            await _storage.ResetStreamingAsync(); // the whole save holds every delta so far
        }
    }
}
