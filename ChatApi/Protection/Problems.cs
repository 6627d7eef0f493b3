using System.Diagnostics;

namespace AspireRetry.ChatApi.Protection;

/// <summary>The problem details ChatApi answers bad input with: always the trace id, and 0 upstream attempts.</summary>
internal static class Problems
{
    public static IResult Invalid(string field, string message) => Invalid(new Dictionary<string, string[]> { [field] = [message] });

    public static IResult Invalid(IDictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors, title: "The chat request is not valid", extensions: Extensions());

    public static IResult Status(int status, string title, string detail) =>
        TypedResults.Problem(detail, statusCode: status, title: title, extensions: Extensions());

    public static Dictionary<string, object?> Extensions(long? retryAfterMs = null) => new()
    {
        ["traceId"] = Activity.Current?.TraceId.ToHexString(),
        ["attempts"] = 0,
        ["retryAfterMs"] = retryAfterMs,
    };
}
