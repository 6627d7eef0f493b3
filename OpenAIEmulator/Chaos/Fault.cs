namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>What happened to one request: no fault, an injected fault, or a genuine validation error.</summary>
public enum Fault
{
    None,
    RateLimit,
    InsufficientQuota,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    RequestTimeout,
    Conflict,
    Unprocessable,
    ServerError,
    BadGateway,
    ServiceUnavailable,
    GatewayTimeout,
    Reset,
    Hang,
    SlowFirstToken,
    SlowStream,
    MidStreamDisconnect,
    RateLimitedByBucket,
    InvalidRequest,
    InvalidApiKey,
    ModelNotFound,
    ResourceNotFound,
}

public static class FaultExtensions
{
    /// <summary>The name on the <c>emulator.fault</c> span tag (<c>none</c> for a clean response).</summary>
    public static string ToFaultName(this Fault fault) => fault switch
    {
        Fault.None => "none",
        Fault.RateLimit => "rate_limit",
        Fault.InsufficientQuota => "insufficient_quota",
        Fault.BadRequest => "bad_request",
        Fault.Unauthorized => "unauthorized",
        Fault.Forbidden => "forbidden",
        Fault.NotFound => "not_found",
        Fault.RequestTimeout => "request_timeout",
        Fault.Conflict => "conflict",
        Fault.Unprocessable => "unprocessable",
        Fault.ServerError => "server_error",
        Fault.BadGateway => "bad_gateway",
        Fault.ServiceUnavailable => "service_unavailable",
        Fault.GatewayTimeout => "gateway_timeout",
        Fault.Reset => "reset",
        Fault.Hang => "hang",
        Fault.SlowFirstToken => "slow_first_token",
        Fault.SlowStream => "slow_stream",
        Fault.MidStreamDisconnect => "mid_stream_disconnect",
        Fault.RateLimitedByBucket => "rate_limited_by_bucket",
        Fault.InvalidRequest => "invalid_request",
        Fault.InvalidApiKey => "invalid_api_key",
        Fault.ModelNotFound => "model_not_found",
        Fault.ResourceNotFound => "resource_not_found",
        _ => throw new ArgumentOutOfRangeException(nameof(fault), fault, null),
    };

    /// <summary>The name used in stats and the request log: the fault name, or <c>ok</c> for a clean response.</summary>
    public static string ToOutcomeName(this Fault fault) => fault == Fault.None ? "ok" : fault.ToFaultName();

    /// <summary>The HTTP status the client sees, or null when it sees no response at all (reset, hang).</summary>
    public static int? ToStatusCode(this Fault fault) => fault switch
    {
        Fault.RateLimit or Fault.InsufficientQuota or Fault.RateLimitedByBucket => 429,
        Fault.BadRequest or Fault.InvalidRequest => 400,
        Fault.Unauthorized or Fault.InvalidApiKey => 401,
        Fault.Forbidden => 403,
        Fault.NotFound or Fault.ModelNotFound or Fault.ResourceNotFound => 404,
        Fault.RequestTimeout => 408,
        Fault.Conflict => 409,
        Fault.Unprocessable => 422,
        Fault.ServerError => 500,
        Fault.BadGateway => 502,
        Fault.ServiceUnavailable => 503,
        Fault.GatewayTimeout => 504,
        Fault.Reset or Fault.Hang => null,
        _ => 200,
    };

    /// <summary>True when the request is answered with a (possibly slowed or cut) completion.</summary>
    public static bool IsCompletion(this Fault fault) =>
        fault is Fault.None or Fault.SlowFirstToken or Fault.SlowStream or Fault.MidStreamDisconnect;
}
