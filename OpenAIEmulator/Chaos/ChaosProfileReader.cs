using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>
/// Reads a profile from a request body, reporting the first problem with the field it concerns:
/// malformed JSON, unknown fields, wrong types, then out-of-range values.
/// </summary>
public static class ChaosProfileReader
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        RespectNullableAnnotations = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    private static readonly Dictionary<string, Type> ProfileFields = FieldsOf(typeof(ChaosProfile));
    private static readonly Dictionary<string, Type> RateLimiterFields = FieldsOf(typeof(RateLimitBucketSettings));

    public static async Task<(ChaosProfile? Profile, ProfileError? Error)> ReadAsync(Stream body, CancellationToken cancellationToken)
    {
        JsonNode? node;
        try
        {
            node = await JsonNode.ParseAsync(body, cancellationToken: cancellationToken);
        }
        catch (JsonException ex)
        {
            return (null, new ProfileError("body", $"The body is not valid JSON: {ex.Message}"));
        }

        if (node is not JsonObject root)
        {
            return (null, new ProfileError("body", "The body must be a JSON object with the profile's fields."));
        }

        // "rateLimit" is the probability of an injected 429; a rateLimit *object* can only mean the
        // token-bucket settings, so it is read as "rateLimiter".
        if (root["rateLimit"] is JsonObject bucketSettings && !root.ContainsKey("rateLimiter"))
        {
            root.Remove("rateLimit");
            root["rateLimiter"] = bucketSettings;
        }

        if (FindUnknownField(root, ProfileFields, "") is { } unknown)
        {
            return (null, unknown);
        }

        if (root["rateLimiter"] is JsonObject limiter && FindUnknownField(limiter, RateLimiterFields, "rateLimiter.") is { } unknownLimit)
        {
            return (null, unknownLimit);
        }

        ChaosProfile? profile;
        try
        {
            profile = root.Deserialize<ChaosProfile>(Options);
        }
        catch (JsonException ex)
        {
            var field = ex.Path is { Length: > 2 } path ? path[2..] : "body";
            return (null, new ProfileError(field, $"{field} has an invalid value: expected {Describe(field)}."));
        }

        if (profile is null)
        {
            return (null, new ProfileError("body", "The body must be a JSON object with the profile's fields."));
        }

        var errors = ChaosProfileValidator.Validate(profile);
        return errors.Count > 0 ? (null, new ProfileError(errors[0].Field, string.Join(" ", errors.Select(e => e.Message)))) : (profile, null);
    }

    private static ProfileError? FindUnknownField(JsonObject json, Dictionary<string, Type> known, string prefix)
    {
        foreach (var (name, _) in json)
        {
            if (!known.ContainsKey(name))
            {
                return new ProfileError(prefix + name, $"Unknown field '{prefix}{name}'. Allowed fields: {string.Join(", ", known.Keys.Select(k => prefix + k))}.");
            }
        }

        return null;
    }

    private static string Describe(string field)
    {
        var fields = field.StartsWith("rateLimiter.", StringComparison.Ordinal) ? RateLimiterFields : ProfileFields;
        var name = field.StartsWith("rateLimiter.", StringComparison.Ordinal) ? field["rateLimiter.".Length..] : field;
        if (!fields.TryGetValue(name, out var type))
        {
            return "a value of the right type";
        }

        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(double) ? "a number"
            : type == typeof(int) ? "a whole number"
            : type == typeof(bool) ? "true or false"
            : type == typeof(string) ? "a string"
            : type == typeof(IReadOnlyList<string>) ? "an array of strings"
            : "an object";
    }

    private static Dictionary<string, Type> FieldsOf(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite)
            .ToDictionary(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name), p => p.PropertyType, StringComparer.OrdinalIgnoreCase);
}
