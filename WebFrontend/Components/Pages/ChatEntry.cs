using System.Diagnostics;
using System.Globalization;
using AspireRetry.WebFrontend.Services;
using Microsoft.AspNetCore.Components;

namespace AspireRetry.WebFrontend.Components.Pages;

/// <summary>
/// One bubble of the conversation, user or assistant, as the page shows it. Whoever changes it calls
/// <see cref="NotifyChanged"/>: only this entry's view re-renders, so the cost of a streamed delta does
/// not grow with the conversation.
/// </summary>
public sealed class ChatEntry(string role, string text = "")
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private string? _renderedText;
    private MarkupString _html;

    public string Role { get; } = role;
    public string Text { get; set; } = text;
    public bool IsUser => Role == "user";

    /// <summary>Still receiving: no done or error event yet.</summary>
    public bool InProgress { get; set; }

    public string? Model { get; set; }

    /// <summary>The upstream that answered (its connection string's name, e.g. <c>openai-2</c>), when ChatApi says.</summary>
    public string? Upstream { get; set; }
    public int MaxAttempts { get; set; }
    public int Attempts { get; set; }
    public string? TraceId { get; set; }

    /// <summary>The app run (the AppHost's run id) this entry was answered in; null until it is first saved.</summary>
    public string? Run { get; set; }

    /// <summary>Restored from an earlier run of the app: the dashboard no longer has its trace.</summary>
    public bool FromEarlierRun { get; init; }
    public UsageInfo? Usage { get; set; }
    public long WaitedMs { get; set; }
    public TimeSpan? Latency { get; set; }

    /// <summary>The live status line while waiting, e.g. "Rate limited (429): retrying in 1.2 s (attempt 2 of 5)".</summary>
    public string? Status { get; set; }

    /// <summary>The attempt that follows the current wait.</summary>
    public int NextAttempt { get; set; }

    /// <summary>When the next attempt starts, for the countdown.</summary>
    public DateTimeOffset? RetryAt { get; set; }

    /// <summary>The wait is ChatApi's rate-limit gate, not a retry: the countdown reads "...: 0.8 s".</summary>
    public bool WaitingForGate { get; set; }

    /// <summary>The upstream is down and the wait is for its next check: the countdown reads "(next check in 1.2 s)".</summary>
    public bool WaitingForRecovery { get; set; }

    /// <summary>
    /// The call has waited for a down upstream: its recovery checks are attempts too, so no "of N" is shown from then on
    /// (the footer's count includes them).
    /// </summary>
    public bool RodeRecovery { get; set; }

    public ErrorEvent? Error { get; set; }
    public bool Stopped { get; set; }

    /// <summary>The page went away (reload, closed tab, lost circuit) while this reply was streaming.</summary>
    public bool Interrupted { get; set; }

    /// <summary>A reply that is whole: part of the history the model sees with the next message.</summary>
    public bool IsComplete => !InProgress && Error is null && !Stopped && !Interrupted && Text.Length > 0;

    /// <summary>Bumped by every <see cref="NotifyChanged"/>: a view re-renders only when it moved.</summary>
    public int Version { get; private set; }

    /// <summary>Raised by <see cref="NotifyChanged"/>, on the caller's thread.</summary>
    public event Action? Changed;

    public void NotifyChanged()
    {
        Version++;
        Changed?.Invoke();
    }

    /// <summary>The reply as HTML, parsed again only when the text changed (once for a finished reply).</summary>
    public MarkupString Html
    {
        get
        {
            if (!ReferenceEquals(_renderedText, Text))
            {
                _html = Markdown.ToHtml(Text);
                _renderedText = Text;
            }

            return _html;
        }
    }

    public void Finish()
    {
        InProgress = false;
        Status = null;
        RetryAt = null;
        Latency ??= _clock.Elapsed;
    }

    /// <summary>
    /// Folds one event of ChatApi's stream into this reply. It does not call <see cref="NotifyChanged"/>: the
    /// caller orders the render with the saving of the same event.
    /// </summary>
    public void Apply(ChatStreamEvent e)
    {
        switch (e)
        {
            case StartEvent start:
                TraceId = start.TraceId;
                MaxAttempts = start.MaxAttempts;
                Status = "Waiting for the model…";
                break;
            case AttemptEvent { Outcome: AttemptEvent.RateLimitWait } wait:
                // Not a failed attempt: the next one waits at ChatApi's shared rate-limit gate.
                Waiting(wait.DelayMs ?? 0, forGate: true, "Waiting for the rate limit to reset");
                break;
            case AttemptEvent { Outcome: AttemptEvent.RecoveryWait } wait:
                // Not a failed attempt: the upstream is down and the next attempt waits for its next check.
                RodeRecovery = true;
                Waiting(wait.DelayMs ?? 0, forGate: false, "Upstream is down - waiting for it to recover");
                break;
            case AttemptEvent { FailoverTo: { } to } failover:
                // Not a retry: the call moves on to the next upstream at once ("Trying openai-2 (openai: 503)").
                Attempts = Math.Max(Attempts, failover.Number);
                NotWaiting();
                Status = $"Trying {to} ({failover.FailoverFrom ?? "previous upstream"}: {failover.Reason ?? Describe(failover)})";
                break;
            case AttemptEvent attempt:
                Attempts = Math.Max(Attempts, attempt.Number);
                NotWaiting();
                if (attempt.DelayMs is { } delay)
                {
                    WaitedMs += delay;
                    RetryAt = DateTimeOffset.UtcNow.AddMilliseconds(delay);
                    NextAttempt = attempt.Number + 1;
                    Status = Describe(attempt);
                }
                break;
            case DeltaEvent delta:
                WaitingForRecovery = false;
                Status = null;
                RetryAt = null;
                Text += delta.Text;
                break;
            case DoneEvent done:
                Attempts = done.Attempts;
                Model = done.Model;
                Upstream = done.Upstream;
                Usage = done.Usage;
                TraceId = done.TraceId ?? TraceId;
                Finish();
                break;
            case ErrorEvent error:
                Error = error;
                Attempts = Math.Max(Attempts, error.Attempts);
                TraceId = error.TraceId ?? TraceId;
                Finish();
                break;
        }
    }

    private static string Describe(AttemptEvent attempt) => attempt.StatusCode switch
    {
        429 => "Rate limited (429)",
        500 => "Server error (500)",
        502 => "Bad gateway (502)",
        503 => "Service unavailable (503)",
        504 => "Gateway timeout (504)",
        408 => "Request timeout (408)",
        { } code => $"HTTP {code}",
        null => attempt.Reason ?? attempt.Outcome,
    };

    /// <summary>
    /// An attempt with no wait after it (the last, a failed recovery check, a failover) ends any countdown: nothing is due
    /// "now" that the next event will not say.
    /// </summary>
    private void NotWaiting()
    {
        WaitingForGate = false;
        WaitingForRecovery = false;
        RetryAt = null;
    }

    /// <summary>A wait that is not a failed attempt: at the rate-limit gate, or for a down upstream's next check.</summary>
    private void Waiting(long delayMs, bool forGate, string status)
    {
        WaitedMs += delayMs;
        RetryAt = DateTimeOffset.UtcNow.AddMilliseconds(delayMs);
        WaitingForGate = forGate;
        WaitingForRecovery = !forGate;
        Status = status;
    }

    /// <summary>
    /// What follows <see cref="Status"/> while a wait lasts, counting down to <see cref="RetryAt"/> at <paramref name="now"/>:
    /// " - retrying in 1.2 s (attempt 2 of 5)", " (next check in 1.2 s)" while the upstream is down, ": 0.8 s" at the gate;
    /// empty when nothing is due. "of N" only while it is true: recovery checks are attempts the retry limit does not count.
    /// </summary>
    public string Countdown(DateTimeOffset now)
    {
        if (RetryAt is not { } at)
        {
            return "";
        }

        var left = at - now;
        if (WaitingForRecovery)
        {
            return left > TimeSpan.Zero ? $" (next check in {Seconds((long)left.TotalMilliseconds)})" : " (checking now)";
        }

        if (WaitingForGate)
        {
            return $": {Seconds((long)Math.Max(0, left.TotalMilliseconds))}";
        }

        var when = left > TimeSpan.Zero ? $"in {Seconds((long)left.TotalMilliseconds)}" : "now";
        return RodeRecovery || NextAttempt > MaxAttempts
            ? $" - retrying {when} (attempt {NextAttempt})"
            : $" - retrying {when} (attempt {NextAttempt} of {MaxAttempts})";
    }

    /// <summary>Milliseconds as the page shows them: "1.2 s".</summary>
    public static string Seconds(long ms) => (ms / 1000.0).ToString("0.0", CultureInfo.InvariantCulture) + " s";
}
