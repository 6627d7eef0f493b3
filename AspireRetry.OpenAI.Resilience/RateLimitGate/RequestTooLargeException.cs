using Polly;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// A request's estimated tokens are more than the upstream's whole token bucket holds (its tokens-per-minute limit),
/// so no wait would ever let it through: it fails at once, unsent. Shorten the prompt (or its completion limit), split
/// the batch, or use a model or upstream with a larger limit (with several upstreams the call moves to the next).
/// </summary>
public sealed class RequestTooLargeException : ExecutionRejectedException
{
    /// <summary>Creates the exception with no message.</summary>
    public RequestTooLargeException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What happened, for a person.</param>
    public RequestTooLargeException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What happened, for a person.</param>
    /// <param name="innerException">The cause.</param>
    public RequestTooLargeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with the request's tokens and the limit.</summary>
    /// <param name="tokens">The request's estimated tokens (prompt and completion).</param>
    /// <param name="limit">The most the upstream's token bucket holds.</param>
    /// <param name="message">What happened, for a person.</param>
    public RequestTooLargeException(long tokens, long limit, string message)
        : base(message)
    {
        Tokens = tokens;
        Limit = limit;
    }

    /// <summary>The request's estimated tokens (prompt and completion).</summary>
    public long Tokens { get; }

    /// <summary>The most the upstream's token bucket holds.</summary>
    public long Limit { get; }
}
