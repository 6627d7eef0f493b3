using AspireRetry.OpenAIEmulator.Chaos;

namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>The error bodies, worded as OpenAI words them, so clients classify them the same way.</summary>
public static class OpenAIErrors
{
    private const string InvalidRequestType = "invalid_request_error";
    private const string ServerErrorType = "server_error";

    public static Task WriteAsync(HttpContext context, int statusCode, OpenAIError error)
    {
        context.Response.StatusCode = statusCode;
        return context.Response.WriteAsJsonAsync(new OpenAIErrorResponse(error), OpenAIJson.Options, context.RequestAborted);
    }

    public static OpenAIError InvalidRequest(string message, string? param, string? code = null) =>
        new(message, InvalidRequestType, param, code);

    public static OpenAIError ModelNotFound(string model) =>
        new($"The model `{model}` does not exist or you do not have access to it.", InvalidRequestType, "model", "model_not_found");

    public static OpenAIError MissingApiKey { get; } = new(
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        InvalidRequestType, null, "invalid_api_key");

    // Never echo the key that was sent: it may be a real key pointed at the wrong server.
    public static OpenAIError IncorrectApiKey { get; } = new(
        "Incorrect API key provided. Check the key configured for this emulator (Emulator:ApiKey).",
        InvalidRequestType, null, "invalid_api_key");

    public static OpenAIError ForFault(ChaosDecision decision, string model) => decision.Fault switch
    {
        Fault.RateLimit => new(
            $"Rate limit reached for {model} on requests per min (RPM). Please try again in {OpenAIHeaders.FormatDuration(TimeSpan.FromMilliseconds(decision.RetryAfter?.AdvisedMs ?? 0))}.",
            "requests", null, "rate_limit_exceeded"),
        Fault.RateLimitedByBucket => BucketError(decision, model),
        Fault.InsufficientQuota => new(
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota", null, "insufficient_quota"),
        Fault.BadRequest => InvalidRequest("The request was rejected as invalid.", null),
        Fault.Unauthorized => IncorrectApiKey,
        Fault.Forbidden => new("You are not allowed to use this model.", InvalidRequestType, "model", "model_not_allowed"),
        Fault.NotFound => ModelNotFound(model),
        Fault.RequestTimeout => new("The request timed out before the server could read it.", InvalidRequestType, null, "request_timeout"),
        Fault.Conflict => new("The request conflicts with another request in progress. Please try again.", InvalidRequestType, null, "conflict"),
        Fault.Unprocessable => new("The request was well-formed but could not be processed.", InvalidRequestType, null, "unprocessable_entity"),
        Fault.ServerError => new("The server had an error while processing your request. Sorry about that!", ServerErrorType, null, null),
        Fault.BadGateway => new("Bad gateway.", ServerErrorType, null, null),
        Fault.ServiceUnavailable => new("The server is overloaded or not ready yet.", ServerErrorType, null, null),
        Fault.GatewayTimeout => new("Gateway timeout. The upstream did not answer in time.", ServerErrorType, null, null),
        _ => throw new ArgumentOutOfRangeException(nameof(decision), decision.Fault, "Not an error outcome."),
    };

    private static OpenAIError BucketError(ChaosDecision decision, string model)
    {
        var limit = decision.RateLimit;
        var snapshot = limit.Snapshot;
        if (limit.TooLarge)
        {
            return new(
                $"Request too large for {model} on tokens per window: Limit {snapshot.LimitTokens}, Requested {limit.Requested}. The input or output tokens must be reduced in order to run successfully.",
                "tokens", null, "rate_limit_exceeded");
        }

        var (unit, cap, left, requested) = limit.LimitType == "tokens"
            ? ("tokens", snapshot.LimitTokens, snapshot.RemainingTokens, limit.Requested)
            : ("requests", snapshot.LimitRequests, snapshot.RemainingRequests, 1);
        return new(
            $"Rate limit reached for {model} on {unit} per window: Limit {cap}, Used {cap - left}, Requested {requested}. Please try again in {OpenAIHeaders.FormatDuration(limit.RetryAfter)}.",
            unit, null, "rate_limit_exceeded");
    }
}
