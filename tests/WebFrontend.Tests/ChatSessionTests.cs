using System.Diagnostics;
using System.Net;
using System.Text.Json;
using AspireRetry.WebFrontend.Components.Pages;

namespace AspireRetry.WebFrontend.Tests;

/// <summary>
/// The chat page's send loop without a browser: a scripted ChatApi, the page's localStorage in memory.
/// What is asserted is what a person or the browser would see: the bubbles, what the model was sent,
/// what a reload brings back, the names of the traces.
/// </summary>
public sealed class ChatSessionTests
{
    private static readonly JsonSerializerOptions Web = JsonSerializerOptions.Web;

    private readonly ScriptedChatApi _chatApi = new();
    private readonly FakeLocalStorage _browser = new();
    private readonly ChatSession _session;
    private int _pageRenders;

    public ChatSessionTests() => _session = new ChatSession(_chatApi.Client());

    private Task OpenPageAsync() => _session.RestoreAsync(_browser.Storage());

    private Task SendAsync(string text, string model = "gpt-4o") =>
        _session.SendAsync(text, model, onSending: () => _pageRenders++, beforeStream: () => Task.CompletedTask);

    private static ChatStreamEvent[] Answer(string text, string traceId = "trace-1") =>
        [new StartEvent(traceId, "gpt-4o", 4), new DeltaEvent(text), new DoneEvent(1, "gpt-4o", new UsageDto(3, 5), null)];

    /// <summary>A conversation as the browser keeps it, in the page's own format.</summary>
    private static string Saved(params (string Role, string Text)[] entries) =>
        JsonSerializer.Serialize(new { version = 1, entries = entries.Select(e => new { role = e.Role, text = e.Text }) }, Web);

    [Fact]
    public async Task A_message_and_its_streamed_reply_become_two_bubbles_kept_in_the_browser()
    {
        await OpenPageAsync();
        _chatApi.Streams(new StartEvent("trace-1", "gpt-4o", 4), new DeltaEvent("Hi "), new DeltaEvent("there"), new DoneEvent(1, "gpt-4o", new UsageDto(3, 5), null));

        await SendAsync("  Hello  ");

        Assert.Equal([("user", "Hello"), ("assistant", "Hi there")], _session.Entries.Select(e => (e.Role, e.Text)));
        var reply = _session.Entries[1];
        Assert.True(reply.IsComplete);
        Assert.Equal("trace-1", reply.TraceId);
        Assert.False(_session.Sending);
        Assert.Equal(1, _pageRenders);
        Assert.Equal(["Hello", "Hi there"], _browser.SavedEntries().Select(e => e.GetProperty("text").GetString()));
        Assert.False(_browser.Items.ContainsKey(ConversationStorage.StreamingKey));
    }

    [Fact]
    public async Task The_request_carries_the_model_the_message_and_the_page_s_caller_key()
    {
        await OpenPageAsync();
        _chatApi.Streams(Answer("Hi"));

        await SendAsync("Hello", model: "gpt-4o-mini");

        var request = Assert.Single(_chatApi.Requests);
        Assert.Equal("gpt-4o-mini", request.Model);
        Assert.Equal([("user", "Hello")], request.Messages!.Select(m => (m.Role, m.Content)));
        Assert.StartsWith("chat-", _session.Caller, StringComparison.Ordinal);
        Assert.Equal($"emulator.caller={_session.Caller}", Assert.Single(_chatApi.Baggage));
    }

    [Fact]
    public async Task Blank_input_sends_nothing()
    {
        await OpenPageAsync();

        await SendAsync(" \n ");

        Assert.Empty(_chatApi.Requests);
        Assert.Empty(_session.Entries);
        Assert.Equal(0, _pageRenders);
    }

    [Fact]
    public async Task A_second_message_while_a_reply_streams_is_not_sent()
    {
        await OpenPageAsync();
        var body = _chatApi.StreamsAndHangs(new StartEvent("trace-1", "gpt-4o", 4));
        var first = SendAsync("First");
        await body.Drained;

        await SendAsync("Second");

        Assert.True(_session.Sending);
        Assert.Single(_chatApi.Requests);
        Assert.Equal(["First", ""], _session.Entries.Select(e => e.Text));
        _session.Stop();
        await first;
    }

    [Fact]
    public async Task The_model_sees_the_finished_turns_but_not_a_failed_reply()
    {
        await OpenPageAsync();
        _chatApi.Streams(new StartEvent("trace-1", "gpt-4o", 4), new DeltaEvent("Half an ans"), new ErrorEvent(503, "Upstream unavailable", "Gave up.", null, 4, null));
        _chatApi.Streams(Answer("Fine"));
        _chatApi.Streams(Answer("Sure"));

        await SendAsync("One");
        await SendAsync("Two");
        await SendAsync("Three");

        Assert.Equal(["One", "Two", "Fine", "Three"], _chatApi.Requests[2].Messages!.Select(m => m.Content));
    }

    [Fact]
    public async Task The_model_sees_only_the_newest_40_turns_of_a_long_conversation()
    {
        _browser.Items[ConversationStorage.Key] = Saved([.. Enumerable.Range(1, 25).SelectMany(i => new[] { ("user", $"q{i}"), ("assistant", $"a{i}") })]);
        await OpenPageAsync();
        _chatApi.Streams(Answer("Hi"));

        await SendAsync("q26");

        var sent = _chatApi.Requests[0].Messages!.Select(m => m.Content).ToList();
        Assert.Equal(40, sent.Count);
        Assert.Equal("a6", sent[0]);
        Assert.Equal("q26", sent[^1]);
    }

    [Fact]
    public async Task Deltas_are_appended_to_the_browser_and_every_other_event_saves_the_whole_conversation()
    {
        await OpenPageAsync();
        _chatApi.Streams(new StartEvent("trace-1", "gpt-4o", 4), new DeltaEvent("Hel"), new DeltaEvent("lo"), new DoneEvent(1, "gpt-4o", null, null));

        await SendAsync("Hi");

        const string Save = $"save {ConversationStorage.Key}", Reset = $"clear {ConversationStorage.StreamingKey}";
        Assert.Equal(
            [
                Save, Reset, // the message and its pending reply
                Save, Reset, // start
                $"append {ConversationStorage.StreamingKey} Hel",
                $"append {ConversationStorage.StreamingKey} lo",
                Save, Reset, // done
                Save, Reset, // the reply's end
            ],
            _browser.Calls.Where(c => !c.StartsWith("load ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task The_reply_re_renders_once_per_event_and_once_at_its_end()
    {
        await OpenPageAsync();
        _chatApi.Streams(new StartEvent("trace-1", "gpt-4o", 4), new AttemptEvent(1, "http_error", 429, null, 5), new DeltaEvent("a"), new DeltaEvent("b"), new DoneEvent(2, "gpt-4o", null, null));
        var renders = 0;

        await _session.SendAsync("Hi", "gpt-4o", onSending: () => _session.Entries[^1].Changed += () => renders++, beforeStream: () => Task.CompletedTask);

        Assert.Equal(6, renders);
    }

    [Fact]
    public async Task Stop_keeps_what_arrived_and_marks_the_reply_stopped()
    {
        await OpenPageAsync();
        var body = _chatApi.StreamsAndHangs(new StartEvent("trace-1", "gpt-4o", 4), new DeltaEvent("Hel"));
        var sending = SendAsync("Hi");
        await body.Drained;

        _session.Stop();
        await sending;

        var reply = _session.Entries[^1];
        Assert.True(reply.Stopped);
        Assert.Equal("Hel", reply.Text);
        Assert.False(reply.InProgress);
        Assert.Null(reply.Error);
        Assert.False(reply.IsComplete);
        Assert.False(_session.Sending);
        var saved = _browser.SavedEntries()[^1];
        Assert.True(saved.GetProperty("stopped").GetBoolean());
        Assert.False(saved.GetProperty("interrupted").GetBoolean());
        Assert.Equal("Hel", saved.GetProperty("text").GetString());
    }

    [Fact]
    public async Task A_reply_cut_by_the_page_going_away_comes_back_after_a_reload_interrupted_with_its_text()
    {
        await OpenPageAsync();
        var body = _chatApi.StreamsAndHangs(new StartEvent("trace-1", "gpt-4o", 4), new DeltaEvent("Hel"), new DeltaEvent("lo"));
        var sending = SendAsync("Hi");
        await body.Drained;

        _session.Dispose();
        await sending;

        // Nothing is saved after the page went away: the last whole save still says "streaming".
        var saved = _browser.SavedEntries()[^1];
        Assert.True(saved.GetProperty("interrupted").GetBoolean());
        Assert.False(saved.GetProperty("stopped").GetBoolean());
        Assert.Equal("Hello", _browser.Items[ConversationStorage.StreamingKey]);

        var reloaded = new ChatSession(new ScriptedChatApi().Client());
        await reloaded.RestoreAsync(_browser.Storage());

        var reply = reloaded.Entries[^1];
        Assert.True(reply.Interrupted);
        Assert.Equal("Hello", reply.Text);
        Assert.False(reply.IsComplete);
        Assert.Equal("Hello", _browser.SavedEntries()[^1].GetProperty("text").GetString()); // saved whole again, marked
        Assert.False(_browser.Items.ContainsKey(ConversationStorage.StreamingKey));
    }

    [Fact]
    public async Task A_broken_connection_fails_the_reply_keeping_its_text_attempts_and_trace()
    {
        await OpenPageAsync();
        _chatApi.StreamsAndBreaks(new StartEvent("trace-1", "gpt-4o", 4), new AttemptEvent(2, "http_error", 500, null, 5), new DeltaEvent("Par"));

        await SendAsync("Hi");

        var reply = _session.Entries[^1];
        Assert.Equal("ChatApi connection lost", reply.Error?.Title);
        Assert.Equal(2, reply.Error!.Attempts);
        Assert.Equal("trace-1", reply.Error.TraceId);
        Assert.Equal("Par", reply.Text);
        Assert.False(reply.Stopped);
        Assert.False(reply.InProgress);
        Assert.Equal("ChatApi connection lost", _browser.SavedEntries()[^1].GetProperty("error").GetProperty("title").GetString());
    }

    [Fact]
    public async Task A_stream_that_ends_without_done_or_error_leaves_a_partial_reply_marked_stopped()
    {
        await OpenPageAsync();
        _chatApi.Streams(new StartEvent("trace-1", "gpt-4o", 4), new DeltaEvent("Par"));
        _chatApi.Streams(Answer("Sure"));

        await SendAsync("Hi");
        await SendAsync("Again");

        var reply = _session.Entries[1];
        Assert.True(reply.Stopped);
        Assert.False(reply.InProgress);
        Assert.Null(reply.Error);
        Assert.Equal(["Hi", "Again"], _chatApi.Requests[1].Messages!.Select(m => m.Content)); // a partial reply is not history
    }

    [Fact]
    public async Task A_request_ChatApi_refuses_fails_the_reply_with_its_problem()
    {
        await OpenPageAsync();
        _chatApi.Refuses(HttpStatusCode.TooManyRequests, "Too many requests");

        await SendAsync("Hi");

        var reply = _session.Entries[^1];
        Assert.Equal(429, reply.Error?.Status);
        Assert.Equal("Too many requests", reply.Error!.Title);
        Assert.False(reply.Stopped);
        Assert.False(_session.Sending);
    }

    [Fact]
    public async Task New_chat_forgets_the_conversation_here_and_in_the_browser()
    {
        await OpenPageAsync();
        _chatApi.Streams(Answer("Hi"));
        await SendAsync("Hello");

        await _session.NewChatAsync();

        Assert.Empty(_session.Entries);
        Assert.Empty(_browser.Items);
    }

    [Fact]
    public async Task Undo_brings_back_what_New_chat_cleared_here_and_in_the_browser()
    {
        await OpenPageAsync();
        _chatApi.Streams(Answer("Hi"));
        await SendAsync("Hello");
        var saved = _browser.Items[ConversationStorage.Key];
        await _session.NewChatAsync();
        Assert.True(_session.CanUndoNewChat);

        await _session.UndoNewChatAsync();

        Assert.False(_session.CanUndoNewChat);
        Assert.Equal(["Hello", "Hi"], _session.Entries.Select(e => e.Text));
        Assert.Equal(saved, _browser.Items[ConversationStorage.Key]);
    }

    [Fact]
    public async Task Undo_is_gone_once_the_next_message_is_sent_and_is_not_offered_for_an_empty_chat()
    {
        await OpenPageAsync();
        await _session.NewChatAsync();
        Assert.False(_session.CanUndoNewChat); // nothing was cleared

        _chatApi.Streams(Answer("Hi"));
        _chatApi.Streams(Answer("Fresh"));
        await SendAsync("Hello");
        await _session.NewChatAsync();
        await SendAsync("A new start");

        Assert.False(_session.CanUndoNewChat);
        await _session.UndoNewChatAsync();
        Assert.Equal(["A new start", "Fresh"], _session.Entries.Select(e => e.Text));
    }

    [Fact]
    public async Task A_reply_restored_in_a_later_run_of_the_app_is_marked_as_from_an_earlier_run_a_reload_in_the_same_run_is_not()
    {
        await _session.RestoreAsync(_browser.Storage(run: "run-1"));
        _chatApi.Streams(Answer("Hi"));
        await SendAsync("Hello");
        Assert.All(_browser.SavedEntries(), e => Assert.Equal("run-1", e.GetProperty("run").GetString()));

        using var sameRun = new ChatSession(_chatApi.Client());
        await sameRun.RestoreAsync(_browser.Storage(run: "run-1"));
        using var nextRun = new ChatSession(_chatApi.Client());
        await nextRun.RestoreAsync(_browser.Storage(run: "run-2"));

        Assert.All(sameRun.Entries, e => Assert.False(e.FromEarlierRun));
        Assert.All(nextRun.Entries, e => Assert.True(e.FromEarlierRun));
        Assert.Equal(["Hello", "Hi"], nextRun.Entries.Select(e => e.Text));
    }

    [Fact]
    public async Task New_chat_does_nothing_while_a_reply_streams()
    {
        await OpenPageAsync();
        var body = _chatApi.StreamsAndHangs(new StartEvent("trace-1", "gpt-4o", 4));
        var sending = SendAsync("Hello");
        await body.Drained;

        await _session.NewChatAsync();

        Assert.Equal(2, _session.Entries.Count);
        Assert.True(_browser.Items.ContainsKey(ConversationStorage.Key));
        _session.Stop();
        await sending;
    }

    [Fact]
    public async Task Each_message_names_its_trace_after_its_number_and_model()
    {
        using var ui = new BlazorEventSpans();
        await OpenPageAsync();
        _chatApi.Streams(Answer("One"));
        _chatApi.Streams(Answer("Two"));
        await SendAsync("First");

        using var second = ui.Start("Event onsubmit");
        await SendAsync("Second", model: "gpt-4o-mini");

        Assert.Equal("Chat message 2 (gpt-4o-mini)", second.DisplayName);
    }

    [Fact]
    public async Task A_message_answered_after_retries_or_failed_says_so_in_its_trace_name_and_status()
    {
        using var ui = new BlazorEventSpans();
        await OpenPageAsync();
        _chatApi.Streams(Answer("Once"));
        _chatApi.Streams(new StartEvent("t2", "gpt-4o", 4), new AttemptEvent(1, "http_error", 503, "503", 10), new AttemptEvent(2, "http_error", 429, "429", 10),
            new DeltaEvent("Third time"), new DoneEvent(3, "gpt-4o", null, null));
        _chatApi.Streams(new StartEvent("t3", "gpt-4o", 4), new ErrorEvent(503, "Upstream unavailable", "The model provider answered 503 to each of 4 attempt(s).", 1000, 4, null));

        using var first = ui.Start("Event onsubmit");
        await SendAsync("First");
        first.Stop();
        using var second = ui.Start("Event onsubmit");
        await SendAsync("Second");
        second.Stop();
        using var third = ui.Start("Event onsubmit");
        await SendAsync("Third");
        third.Stop();

        Assert.Equal(("Chat message 1 (gpt-4o)", System.Diagnostics.ActivityStatusCode.Ok), (first.DisplayName, first.Status));
        Assert.Equal(("Chat message 2 (gpt-4o) - 3 attempts", System.Diagnostics.ActivityStatusCode.Ok), (second.DisplayName, second.Status));
        Assert.Equal(("Chat message 3 (gpt-4o) - failed after 4 attempts", System.Diagnostics.ActivityStatusCode.Error), (third.DisplayName, third.Status));
        Assert.Equal("Upstream unavailable", third.StatusDescription);
    }

    [Fact]
    public async Task Stop_and_new_chat_name_their_traces()
    {
        using var ui = new BlazorEventSpans();
        await OpenPageAsync();
        using (var stop = ui.Start("Event onclick"))
        {
            _session.Stop();
            Assert.Equal("Stop reply", stop.DisplayName);
        }

        using var newChat = ui.Start("Event onclick");
        await _session.NewChatAsync();

        Assert.Equal("New chat", newChat.DisplayName);
    }

    /// <summary>Spans as Blazor starts them for UI events, under its ActivitySource's name.</summary>
    private sealed class BlazorEventSpans : IDisposable
    {
        private readonly ActivitySource _source = new("Microsoft.AspNetCore.Components");
        private readonly ActivityListener _listener;

        public BlazorEventSpans()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => ReferenceEquals(source, _source),
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public Activity Start(string name) => _source.StartActivity(name) ?? throw new InvalidOperationException("The span was not sampled.");

        public void Dispose()
        {
            _listener.Dispose();
            _source.Dispose();
        }
    }
}
