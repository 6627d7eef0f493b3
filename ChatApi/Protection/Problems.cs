using System.Diagnostics;

namespace AspireRetry.ChatApi.Protection;

/// <summary>The problem details ChatApi answers with: always the trace id, the upstream attempts made (0 for bad input) and the wait to pass on.</summary>
internal static class Problems
{
    public static IResult Invalid(string field, string message) => Invalid(new Dictionary<string, string[]> { [field] = [message] });

    public static IResult Invalid(IDictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors, title: "The chat request is not valid", extensions: Extensions());

    public static IResult Status(int status, string title, string detail) =>
        TypedResults.Problem(detail, statusCode: status, title: title, extensions: Extensions());

    public static Dictionary<string, object?> Extensions(long? retryAfterMs = null, int attempts = 0) => new()
    {
        ["traceId"] = Activity.Current?.TraceId.ToHexString(),
        ["attempts"] = attempts,
        ["retryAfterMs"] = retryAfterMs,
    };
}
