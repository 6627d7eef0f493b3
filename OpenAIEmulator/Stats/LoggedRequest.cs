using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace AspireRetry.OpenAIEmulator.Stats;

/// <summary>
/// One model request as the emulator saw it. <see cref="StatusCode"/> is null when no response was
/// sent (reset, hang); <see cref="RetryAfterMs"/> is the wait the response advised, if any.
/// <see cref="Operation"/> is <c>chat.completions</c>, <c>embeddings</c> or <c>responses</c>; <see cref="Dialect"/>
/// <c>openai</c>, <c>azure-deployment</c> or <c>azure-v1</c>; <see cref="Auth"/> the header that carried a
/// credential (<c>bearer</c>, <c>api-key</c>), never its value.
/// </summary>
public sealed record LoggedRequest(
    long Sequence,
    string? RequestId,
    [property: JsonConverter(typeof(MillisecondTimestampConverter))] DateTimeOffset ReceivedAt,
    string? Caller,
    string? Model,
    bool Stream,
    string Outcome,
    int? StatusCode,
    long? RetryAfterMs,
    string Operation,
    string Dialect,
    string Path,
    string? ApiVersion,
    string? Auth);

/// <summary>ISO 8601 in UTC with millisecond precision, e.g. <c>2025-01-31T12:00:00.123Z</c>.</summary>
public sealed class MillisecondTimestampConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        DateTimeOffset.Parse(reader.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
}
