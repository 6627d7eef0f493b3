using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.Testing;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>One span as the dashboard's telemetry API returns it (OTLP JSON), with its resource's name.</summary>
public sealed record Span(string Service, string TraceId, string SpanId, string? ParentSpanId, string Name, int Kind, int StatusCode,
    ulong StartTimeUnixNano, ulong EndTimeUnixNano, IReadOnlyDictionary<string, string> Attributes, IReadOnlyList<SpanEvent> Events)
{
    public TimeSpan Duration => TimeSpan.FromTicks((long)(EndTimeUnixNano - StartTimeUnixNano) / 100);

    public const int KindServer = 2;
    public const int KindClient = 3;
    public const int StatusError = 2;
    public const int StatusOk = 1;

    public string? Attr(string key) => Attributes.TryGetValue(key, out var value) ? value : null;

    /// <summary>An upstream attempt: ChatApi's HTTP client span (the GenAI span is a client span too, without an HTTP method).</summary>
    public bool IsUpstreamAttempt => Service == "chatapi" && Kind == KindClient && Attr("http.request.method") is not null;
}

public sealed record SpanEvent(string Name, IReadOnlyDictionary<string, string> Attributes);

/// <summary>Reads the Aspire dashboard's telemetry API (<c>/api/telemetry/...</c>, header <c>x-api-key</c>).</summary>
public sealed class DashboardTelemetry(HttpClient http)
{
    public static async Task<DashboardTelemetry> ConnectAsync(DistributedApplication app, string apiKey, CancellationToken cancellationToken)
    {
        var login = await app.GetDashboardUrlAsync(cancellationToken) ?? throw new InvalidOperationException("the dashboard is off");
        var http = new HttpClient { BaseAddress = new Uri(login.GetLeftPart(UriPartial.Authority)) };
        http.DefaultRequestHeaders.Add("x-api-key", apiKey);
        return new DashboardTelemetry(http);
    }

    public Uri BaseAddress => http.BaseAddress!;

    public async Task<List<Span>> TraceAsync(string traceId, CancellationToken cancellationToken) =>
        Spans(await http.GetFromJsonAsync<JsonElement>($"/api/telemetry/traces/{traceId}", cancellationToken));

    /// <summary>The dashboard's names of a resource's replicas (<c>chatapi-&lt;service.instance.id&gt;</c>), one per process that sent telemetry.</summary>
    public async Task<List<string>> ReplicasAsync(string resource, CancellationToken cancellationToken)
    {
        var resources = await http.GetFromJsonAsync<JsonElement>("/api/telemetry/resources", cancellationToken);
        return [.. resources.EnumerateArray()
            .Where(r => r.GetProperty("name").GetString() == resource)
            .Select(r => r.GetProperty("displayName").GetString()!)];
    }

    /// <summary>Every span of one resource the dashboard holds (newest 10,000).</summary>
    public async Task<List<Span>> SpansAsync(string resource, CancellationToken cancellationToken) =>
        Spans(await http.GetFromJsonAsync<JsonElement>($"/api/telemetry/spans?resource={resource}&limit=10000", cancellationToken));

    /// <summary>Polls (bounded) until the trace satisfies <paramref name="complete"/>: OTLP exports in batches.</summary>
    public async Task<List<Span>> WaitForTraceAsync(string traceId, Func<List<Span>, bool> complete, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        List<Span> spans = [];
        while (DateTime.UtcNow < deadline)
        {
            using var response = await http.GetAsync($"/api/telemetry/traces/{traceId}", cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                spans = Spans(await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken));
                if (complete(spans))
                {
                    return spans;
                }
            }

            await Task.Delay(250, cancellationToken);
        }

        Assert.Fail($"trace {traceId} was not complete in the dashboard within 30 s; it had: {string.Join(", ", spans.Select(s => $"{s.Service}:{s.Name}"))}");
        return spans;
    }

    /// <summary>Raw text of what the dashboard holds for these telemetry paths, for "is this string anywhere" checks.</summary>
    public async Task<string> RawAsync(string path, CancellationToken cancellationToken) =>
        await http.GetStringAsync(path, cancellationToken);

    private static List<Span> Spans(JsonElement root)
    {
        var spans = new List<Span>();
        var data = root.TryGetProperty("data", out var d) ? d : root;
        if (!data.TryGetProperty("resourceSpans", out var resourceSpans))
        {
            return spans;
        }

        foreach (var resource in resourceSpans.EnumerateArray())
        {
            var service = Attributes(resource.GetProperty("resource")).GetValueOrDefault("service.name", "?");
            foreach (var scope in resource.GetProperty("scopeSpans").EnumerateArray())
            {
                foreach (var span in scope.GetProperty("spans").EnumerateArray())
                {
                    spans.Add(new Span(service,
                        span.GetProperty("traceId").GetString()!,
                        span.GetProperty("spanId").GetString()!,
                        span.TryGetProperty("parentSpanId", out var parent) && parent.GetString() is { Length: > 0 } p ? p : null,
                        span.GetProperty("name").GetString()!,
                        span.TryGetProperty("kind", out var kind) ? kind.GetInt32() : 0,
                        span.TryGetProperty("status", out var status) && status.TryGetProperty("code", out var code) ? code.GetInt32() : 0,
                        ulong.Parse(span.GetProperty("startTimeUnixNano").ToString(), System.Globalization.CultureInfo.InvariantCulture),
                        ulong.Parse(span.GetProperty("endTimeUnixNano").ToString(), System.Globalization.CultureInfo.InvariantCulture),
                        Attributes(span),
                        span.TryGetProperty("events", out var events)
                            ? [.. events.EnumerateArray().Select(e => new SpanEvent(e.GetProperty("name").GetString()!, Attributes(e)))]
                            : []));
                }
            }
        }

        return spans;
    }

    private static Dictionary<string, string> Attributes(JsonElement owner)
    {
        var result = new Dictionary<string, string>();
        if (owner.TryGetProperty("attributes", out var attributes))
        {
            foreach (var attribute in attributes.EnumerateArray())
            {
                var value = attribute.GetProperty("value");
                // OTLP JSON: {"stringValue": "..."} or {"intValue": "429"} (int64 as a string) or {"boolValue": true} ...
                var text = value.EnumerateObject().Select(p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText()).FirstOrDefault();
                result[attribute.GetProperty("key").GetString()!] = text ?? "";
            }
        }

        return result;
    }
}
