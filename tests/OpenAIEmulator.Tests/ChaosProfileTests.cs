using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using AspireRetry.Contracts;
using static AspireRetry.OpenAIEmulator.Tests.EmulatorFixture;

namespace AspireRetry.OpenAIEmulator.Tests;

/// <summary>The probabilistic profile. This class owns its emulator, so changing the global profile is safe.</summary>
public sealed class ChaosProfileTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>, IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        await emulator.Http.DeleteAsync("emulator/chaos", CancellationToken.None);
        await emulator.Http.DeleteAsync("emulator/chaos/script", CancellationToken.None);
    }

    [Fact]
    public async Task Put_replaces_the_whole_profile_and_get_returns_it()
    {
        await emulator.PutProfileAsync("""{"name":"flaky","serverError500":0.25,"retryAfterMs":250}""");
        await emulator.PutProfileAsync("""{"name":"slow","slowStream":0.5,"tokensPerSecond":10}""");

        var profile = await emulator.GetJsonAsync("emulator/chaos");

        Assert.Equal("slow", profile["name"]!.GetValue<string>());
        Assert.Equal(0.5, profile["slowStream"]!.GetValue<double>());
        Assert.Equal(10, profile["tokensPerSecond"]!.GetValue<double>());
        Assert.Equal(0, profile["serverError500"]!.GetValue<double>());
        Assert.Equal(1000, profile["retryAfterMs"]!.GetValue<int>());
        Assert.False(profile["rateLimiter"]!["enabled"]!.GetValue<bool>());
    }

    /// <summary>
    /// The chaos scenarios of the chat page and the dashboard's buttons (Contracts) spell the emulator's
    /// profile fields and script outcomes as strings: each must be one this emulator takes as meant.
    /// </summary>
    [Fact]
    public async Task Every_shared_chaos_scenario_is_a_profile_and_script_the_emulator_accepts()
    {
        foreach (var scenario in ChaosScenario.All)
        {
            await emulator.PutProfileAsync(JsonSerializer.Serialize(scenario.ProfileBody()));

            var profile = await emulator.GetJsonAsync("emulator/chaos");
            Assert.Equal(scenario.Name, profile["name"]!.GetValue<string>());
            foreach (var (field, value) in scenario.Profile ?? new Dictionary<string, object>())
            {
                Assert.Equal(Convert.ToDouble(value, CultureInfo.InvariantCulture), profile[field]!.GetValue<double>());
            }

            if (scenario.PerMessage is { } outcomes)
            {
                await emulator.ScriptAsync(NewCaller("scenario"), [.. outcomes]);
            }
        }
    }

    [Fact]
    public async Task Delete_returns_to_a_calm_profile()
    {
        await emulator.PutProfileAsync("""{"name":"down","serviceUnavailable503":1}""");

        using var reset = await emulator.Http.DeleteAsync("emulator/chaos", Ct);
        using var http = emulator.CreateClient(NewCaller("calm"));
        using var response = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);

        Assert.Null(JsonNode.Parse(await reset.Content.ReadAsStringAsync(Ct))!["name"]);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("""{"serviceUnavailable503":1,"retryAfterMs":2500}""", 503, "2500", "3")]
    [InlineData("""{"serviceUnavailable503":1,"retryAfterMs":0}""", 503, null, null)]
    [InlineData("""{"rateLimit":1,"retryAfterMs":1200}""", 429, "1200", "2")]
    [InlineData("""{"insufficientQuota":1}""", 429, null, null)]
    [InlineData("""{"gatewayTimeout504":1}""", 504, null, null)]
    public async Task Certain_profile_fault_answers_every_request_with_its_status_and_retry_headers(string profile, int status, string? retryAfterMs, string? retryAfter)
    {
        await emulator.PutProfileAsync(profile);
        using var http = emulator.CreateClient(NewCaller("certain"));

        for (var i = 0; i < 3; i++)
        {
            using var response = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
            Assert.Equal(status, (int)response.StatusCode);
            Assert.Equal(retryAfterMs, HasHeader(response, "retry-after-ms") ? Header(response, "retry-after-ms") : null);
            Assert.Equal(retryAfter, HasHeader(response, "retry-after") ? Header(response, "retry-after") : null);
        }
    }

    [Theory]
    [InlineData("v1/embeddings", """{"model":"text-embedding-3-small","input":"x"}""")]
    [InlineData("v1/responses", """{"model":"gpt-4o","input":"x"}""")]
    [InlineData("v1/responses", """{"model":"gpt-4o","input":"x","stream":true}""")]
    public async Task Profile_faults_answer_embeddings_and_responses_as_they_answer_chat(string path, string body)
    {
        await emulator.PutProfileAsync("""{"rateLimit":1,"retryAfterMs":1200}""");
        var caller = NewCaller("profile-operations");
        using var http = emulator.CreateClient(caller);

        using var response = await http.PostAsync(path, Json(body), Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("1200", Header(response, "retry-after-ms"));
        Assert.Equal("rate_limit_exceeded", (await ErrorOfAsync(response))["code"]!.GetValue<string>());
        Assert.Equal(["rate_limit"], await emulator.OutcomesAsync(caller));
    }

    [Theory]
    [InlineData("""["x-ms-retry-after-ms"]""", null, null, "1500", 1500L)]
    [InlineData("""["retry-after-ms","retry-after","x-ms-retry-after-ms"]""", "1500", "2", "1500", 1500L)]
    [InlineData("""[]""", null, null, null, null)]
    public async Task Retry_after_headers_choose_the_forms_every_429_of_the_profile_sends(string forms, string? retryAfterMs, string? retryAfter, string? xMs, long? advised)
    {
        await emulator.PutProfileAsync($$"""{"rateLimit":1,"retryAfterMs":1500,"retryAfterHeaders":{{forms}}}""");
        var caller = NewCaller("profile-forms");
        await emulator.ScriptAsync(caller, "429");
        using var http = emulator.CreateClient(caller);

        using var scripted = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        using var rolled = await http.PostAsync("v1/embeddings", Json("""{"model":"text-embedding-3-small","input":"x"}"""), Ct);

        foreach (var response in new[] { scripted, rolled })
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            Assert.Equal(retryAfterMs, HasHeader(response, "retry-after-ms") ? Header(response, "retry-after-ms") : null);
            Assert.Equal(retryAfter, HasHeader(response, "retry-after") ? Header(response, "retry-after") : null);
            Assert.Equal(xMs, HasHeader(response, "x-ms-retry-after-ms") ? Header(response, "x-ms-retry-after-ms") : null);
        }

        Assert.Equal([advised, advised], (await emulator.RequestsAsync(caller)).Select(r => r!["retryAfterMs"]?.GetValue<long>()));
    }

    [Fact]
    public async Task Profile_disconnect_and_reset_are_real_connection_failures()
    {
        await emulator.PutProfileAsync("""{"midStreamDisconnect":1,"disconnectAfterChunks":2}""");
        using var http = emulator.CreateClient(NewCaller("profile-cut"));

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.PostAsync("v1/chat/completions", ChatBody(), Ct));
        var cut = await Record.ExceptionAsync(async () =>
        {
            using var response = await http.PostAsync("v1/chat/completions", ChatBody(stream: true), Ct);
            await response.Content.ReadAsStringAsync(Ct);
        });

        Assert.True(cut is HttpRequestException or IOException, $"expected a transport failure, got {cut?.GetType().Name ?? "none"}");
    }

    [Fact]
    public async Task Script_takes_precedence_over_the_profile_and_a_shared_script_applies_to_any_caller()
    {
        await emulator.PutProfileAsync("""{"badGateway502":1}""");
        var caller = NewCaller("precedence");
        await emulator.ScriptAsync(caller, "ok");
        await emulator.ScriptAsync(null, "409");
        using var http = emulator.CreateClient(caller);

        var statuses = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            using var response = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
            statuses.Add((int)response.StatusCode);
        }

        Assert.Equal([200, 409, 502], statuses);
    }

    [Fact]
    public async Task Rate_limit_object_is_accepted_as_the_rate_limiter_settings()
    {
        await emulator.PutProfileAsync("""{"rateLimit":{"enabled":true,"requestsPerWindow":7,"windowMs":1000}}""");

        var profile = await emulator.GetJsonAsync("emulator/chaos");

        Assert.Equal(0, profile["rateLimit"]!.GetValue<double>());
        Assert.True(profile["rateLimiter"]!["enabled"]!.GetValue<bool>());
        Assert.Equal(7, profile["rateLimiter"]!["requestsPerWindow"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("""{"serverError500":1.5}""", "serverError500", "between 0 and 1")]
    [InlineData("""{"reset":-0.1}""", "reset", "between 0 and 1")]
    [InlineData("""{"rateLimit":0.6,"hang":0.5}""", "probabilities", "at most 1")]
    [InlineData("""{"retryAfterMs":-1}""", "retryAfterMs", "0 or more")]
    [InlineData("""{"hangMs":-1}""", "hangMs", "0 or more")]
    [InlineData("""{"slowTokensPerSecond":0}""", "slowTokensPerSecond", "greater than 0")]
    [InlineData("""{"firstTokenDelayMs":-3}""", "firstTokenDelayMs", "0 or more")]
    [InlineData("""{"rateLimiter":{"enabled":true,"windowMs":0}}""", "rateLimiter.windowMs", "1 or more")]
    [InlineData("""{"rateLimiter":{"requestsPerMinute":5}}""", "rateLimiter.requestsPerMinute", "Allowed fields")]
    [InlineData("""{"serverError":0.5}""", "serverError", "serverError500")]
    [InlineData("""{"hangMs":"long"}""", "hangMs", "whole number")]
    [InlineData("""{"retryAfterHeaders":["retry-after-seconds"]}""", "retryAfterHeaders", "x-ms-retry-after-ms")]
    [InlineData("""{"retryAfterHeaders":"retry-after"}""", "retryAfterHeaders", "an array of strings")]
    [InlineData("""[1,2]""", "body", "object")]
    public async Task Invalid_profile_gets_400_naming_the_field_and_keeps_the_old_profile(string json, string field, string mentioned)
    {
        await emulator.PutProfileAsync("""{"name":"before"}""");

        using var response = await emulator.Http.PutAsync("emulator/chaos", Json(json), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorOfAsync(response);
        Assert.Equal(field, error["param"]!.GetValue<string>());
        Assert.Contains(mentioned, error["message"]!.GetValue<string>());
        Assert.Equal("before", (await emulator.GetJsonAsync("emulator/chaos"))["name"]!.GetValue<string>());
    }
}
