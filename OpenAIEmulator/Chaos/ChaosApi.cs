using System.Text.Json;
using System.Text.Json.Nodes;
using AspireRetry.OpenAIEmulator.OpenAI;

namespace AspireRetry.OpenAIEmulator.Chaos;

/// <summary>Operator endpoints: the chaos profile and the scripted outcome queues.</summary>
public static class ChaosApi
{
    public static IEndpointRouteBuilder MapChaosApi(this IEndpointRouteBuilder app)
    {
        var chaos = app.MapGroup("/emulator/chaos");

        chaos.MapGet("", (ChaosEngine engine) => engine.Profile);
        chaos.MapPut("", PutProfile);
        chaos.MapDelete("", (ChaosEngine engine) => engine.Profile = ChaosProfile.Calm);

        chaos.MapPost("/script", PostScript);
        chaos.MapGet("/script", (string? caller, ChaosScript script) => script.Snapshot(NullIfEmpty(caller)));
        chaos.MapDelete("/script", (string? caller, ChaosScript script) =>
        {
            script.Clear(NullIfEmpty(caller));
            return script.Snapshot(NullIfEmpty(caller));
        });

        return app;
    }

    private static async Task<IResult> PutProfile(HttpRequest request, ChaosEngine engine)
    {
        var (profile, error) = await ChaosProfileReader.ReadAsync(request.Body, request.HttpContext.RequestAborted);
        if (profile is null)
        {
            return BadRequest(error!.Message, error.Field, "invalid_chaos_profile");
        }

        engine.Profile = profile;
        return Results.Ok(profile);
    }

    private static async Task<IResult> PostScript(HttpRequest request, ChaosScript script)
    {
        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
        }
        catch (JsonException ex)
        {
            return BadRequest($"The body is not valid JSON: {ex.Message}", null, "invalid_chaos_script");
        }

        if (body is not JsonObject json)
        {
            return BadRequest("The body must be a JSON object: { \"outcomes\": [\"429\", \"ok\"], \"caller\": \"optional\" }.", null, "invalid_chaos_script");
        }

        if (json.Select(p => p.Key).FirstOrDefault(key => key is not ("outcomes" or "caller")) is { } unknown)
        {
            return BadRequest($"Unknown field '{unknown}'. Allowed fields: outcomes, caller.", unknown, "invalid_chaos_script");
        }

        if (json["caller"] is { } callerNode && callerNode.GetValueKind() != JsonValueKind.String)
        {
            return BadRequest("caller must be a string.", "caller", "invalid_chaos_script");
        }

        if (json["outcomes"] is not JsonArray { Count: > 0 } entries)
        {
            return BadRequest($"outcomes must be a non-empty array of outcomes such as \"429:retry-after-ms=150\". Allowed kinds: {OutcomeGrammar.AllowedKinds}.", "outcomes", "invalid_chaos_script");
        }

        var outcomes = new List<ChaosOutcome>();
        for (var i = 0; i < entries.Count; i++)
        {
            var text = entries[i] is { } entry && entry.GetValueKind() == JsonValueKind.String ? entry.GetValue<string>() : null;
            var outcome = ChaosOutcome.Rolled(Fault.None);
            var problem = "every entry must be a string.";
            if (text is null || !OutcomeGrammar.TryParse(text, out outcome, out problem))
            {
                return BadRequest($"outcomes[{i}] ('{text}') is not a valid outcome: {problem} Outcomes read kind[:key=value[,key=value]]; allowed kinds: {OutcomeGrammar.AllowedKinds}.", $"outcomes[{i}]", "invalid_chaos_script");
            }

            outcomes.Add(outcome);
        }

        var caller = NullIfEmpty(json["caller"]?.GetValue<string>());
        script.Enqueue(caller, outcomes);
        return Results.Ok(script.Snapshot(caller));
    }

    private static IResult BadRequest(string message, string? param, string code) =>
        Results.Json(new OpenAIErrorResponse(OpenAIErrors.InvalidRequest(message, param, code)), OpenAIJson.Options, statusCode: StatusCodes.Status400BadRequest);

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
