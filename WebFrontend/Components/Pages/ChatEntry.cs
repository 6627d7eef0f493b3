using System.Diagnostics;
using AspireRetry.WebFrontend.Services;

namespace AspireRetry.WebFrontend.Components.Pages;

/// <summary>One bubble of the conversation, user or assistant, as the page shows it.</summary>
public sealed class ChatEntry(string role, string text = "")
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public string Role { get; } = role;
    public string Text { get; set; } = text;
    public bool IsUser => Role == "user";

    /// <summary>Still receiving: no done or error event yet.</summary>
    public bool InProgress { get; set; }

    public string? Model { get; set; }
    public int MaxAttempts { get; set; }
    public int Attempts { get; set; }
    public string? TraceId { get; set; }
    public UsageInfo? Usage { get; set; }
    public long WaitedMs { get; set; }
    public TimeSpan? Latency { get; private set; }

    /// <summary>The live status line while waiting, e.g. "Rate limited (429): retrying in 1.2 s (attempt 2 of 5)".</summary>
    public string? Status { get; set; }

    /// <summary>The attempt that follows the current wait.</summary>
    public int NextAttempt { get; set; }

    /// <summary>When the next attempt starts, for the countdown.</summary>
    public DateTimeOffset? RetryAt { get; set; }

    /// <summary>The wait is ChatApi's rate-limit gate, not a retry: the countdown reads "...: 0.8 s".</summary>
    public bool WaitingForGate { get; set; }

    public ErrorEvent? Error { get; set; }
    public bool Stopped { get; set; }

    public void Finish()
    {
        InProgress = false;
        Status = null;
        RetryAt = null;
        Latency = _clock.Elapsed;
    }
}
