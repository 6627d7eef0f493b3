using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The retry layer's way to the <see cref="IUpstreamSharedState"/>, when one is registered: every call has a deadline
/// (<see cref="SharedStateOptions.Timeout"/>), and one that fails or misses it is reported as not answered, so the
/// caller decides on the replica's own state. After a failure the store is left alone for
/// <see cref="SharedStateOptions.RetryInterval"/>, then asked again: the first answer rejoins. A Redis that refuses costs
/// nothing (the client fails at once); one that hangs costs the calls in flight when it is asked again up to the timeout,
/// once per interval. One warning when it goes, one message when it is back.
/// </summary>
internal sealed partial class SharedStateLink
{
    private readonly IUpstreamSharedState? _store;
    private readonly SharedStateOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private long _skipUntil;
    private bool _away;

    public SharedStateLink(IUpstreamSharedState? store, SharedStateOptions options, TimeProvider time, ILogger<SharedStateLink>? logger = null)
    {
        _store = store;
        _options = options;
        _time = time;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>No store registered: every decision is the replica's own.</summary>
    public static SharedStateLink None { get; } = new(null, new SharedStateOptions(), TimeProvider.System);

    /// <summary>A store is registered (it may still be unreachable).</summary>
    public bool Configured => _store is not null;

    /// <summary>Asks the store, within the deadline; <c>Ok</c> is false when there is none, it failed, or it is being left alone.</summary>
    public async ValueTask<(bool Ok, T Value)> TryAsync<T>(Func<IUpstreamSharedState, CancellationToken, ValueTask<T>> ask, CancellationToken cancellationToken)
    {
        if (_store is null || _time.GetTimestamp() < Volatile.Read(ref _skipUntil))
        {
            return (false, default!);
        }

        try
        {
            var value = await ask(_store, cancellationToken).AsTask().WaitAsync(_options.Timeout, _time, cancellationToken).ConfigureAwait(false);
            Answered();
            return (true, value);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            Failed(ex);
            return (false, default!);
        }
    }

    /// <summary>As <see cref="TryAsync{T}"/>, for a call that returns nothing: true when the store took it.</summary>
    public async ValueTask<bool> TryAsync(Func<IUpstreamSharedState, CancellationToken, ValueTask> tell, CancellationToken cancellationToken)
    {
        var (ok, _) = await TryAsync(async (store, ct) =>
        {
            await tell(store, ct).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
        return ok;
    }

    private void Answered()
    {
        if (!Volatile.Read(ref _away))
        {
            return;
        }

        lock (_lock)
        {
            if (!_away)
            {
                return;
            }

            _away = false;
        }

        Rejoined(_logger);
    }

    private void Failed(Exception ex)
    {
        lock (_lock)
        {
            Volatile.Write(ref _skipUntil, _time.GetTimestamp() + (long)(_options.RetryInterval.TotalSeconds * _time.TimestampFrequency));
            if (_away)
            {
                return;
            }

            _away = true;
        }

        var reason = ex is TimeoutException ? $"no answer within {TimeSpans.Seconds(_options.Timeout)}" : $"{ex.GetType().Name}: {ex.Message}";
        Unavailable(_logger, reason, TimeSpans.Seconds(_options.RetryInterval));
    }

    [LoggerMessage(EventId = 4101, Level = LogLevel.Warning,
        Message = "Shared state unavailable ({Reason}): deciding on this replica's own state, asking again every {RetryInterval} until it answers")]
    private static partial void Unavailable(ILogger logger, string reason, string retryInterval);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Information,
        Message = "Shared state answers again: this replica decides on the shared rate limit, retry budget and breaker once more")]
    private static partial void Rejoined(ILogger logger);
}
