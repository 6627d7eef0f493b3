namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>How a completion is paced; <paramref name="TokensPerSecond"/> 0 means no delay between tokens.</summary>
public sealed record StreamPacing(TimeSpan FirstTokenDelay, double TokensPerSecond, int? DisconnectAfterChunks)
{
    public TimeSpan TokenGap => TokensPerSecond > 0 ? TimeSpan.FromSeconds(1 / TokensPerSecond) : TimeSpan.Zero;

    /// <summary>When a plain (unstreamed) answer of <paramref name="tokens"/> tokens is ready: when its last token would have streamed.</summary>
    public TimeSpan PlainDelay(int tokens) => FirstTokenDelay + (TokenGap * Math.Max(0, tokens - 1));
}

public static class TimeProviderDelays
{
    /// <summary>Waits on the emulator's clock (a fake one in tests); a wait already due returns at once.</summary>
    public static Task DelayAsync(this TimeProvider time, TimeSpan delay, CancellationToken cancellationToken) =>
        delay > TimeSpan.Zero ? Task.Delay(delay, time, cancellationToken) : Task.CompletedTask;
}
