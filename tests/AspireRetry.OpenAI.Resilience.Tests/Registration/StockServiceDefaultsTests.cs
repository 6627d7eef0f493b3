using System.Net;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// The layer in an app that starts from the Aspire template: its ServiceDefaults put the standard resilience handler on
/// every HttpClient (<c>ConfigureHttpClientDefaults</c>), and the layer's client must still carry one layer only.
/// </summary>
public sealed class StockServiceDefaultsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task With_the_templates_standard_handler_on_every_client_a_down_upstream_sees_one_request_per_attempt()
    {
        var builder = App(new Dictionary<string, string?>
        {
            // Backoff in milliseconds: the test counts requests, it does not wait out the policy.
            ["OpenAI:Resilience:BaseDelay"] = "00:00:00.001",
            ["OpenAI:Resilience:MaxDelay"] = "00:00:00.010",
        });
        // What the Aspire template's ServiceDefaults do.
        builder.Services.ConfigureHttpClientDefaults(http => http.AddStandardResilienceHandler());
        var upstream = new AlwaysUnavailable();
        builder.AddResilientOpenAI().HttpClient.ConfigurePrimaryHttpMessageHandler(() => upstream);
        using var host = builder.Build();
        await host.StartAsync(Ct);

        var chat = host.Services.GetRequiredService<ResilientChatClients>().Get("gpt-4o");
        await Assert.ThrowsAnyAsync<Exception>(() => chat.GetResponseAsync("Hello", cancellationToken: Ct));

        // With the standard handler left under or over ours, its own retries would each run the whole policy again.
        Assert.Equal(new ResilienceOptions().MaxRetryAttempts + 1, upstream.Requests);
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task No_retries_configured_is_one_request_per_call_not_a_failure_of_the_policy()
    {
        // 0 is a valid setting (0 to 20); Polly's retry itself rejects it, so the layer leaves the retry out.
        var builder = App(new Dictionary<string, string?> { ["OpenAI:Resilience:MaxRetryAttempts"] = "0" });
        var upstream = new AlwaysUnavailable();
        builder.AddResilientOpenAI().HttpClient.ConfigurePrimaryHttpMessageHandler(() => upstream);
        using var host = builder.Build();
        await host.StartAsync(Ct);

        var chat = host.Services.GetRequiredService<ResilientChatClients>().Get("gpt-4o");
        var error = await Assert.ThrowsAnyAsync<Exception>(() => chat.GetResponseAsync("Hello", cancellationToken: Ct));

        Assert.IsType<System.ClientModel.ClientResultException>(error); // the upstream's 503, not a validation error of the policy
        Assert.Equal(1, upstream.Requests);
        await host.StopAsync(Ct);
    }

    [Theory]
    [InlineData("Development", "false", false)]
    [InlineData("Production", "true", true)]
    [InlineData("Development", null, null)]
    public void Message_capture_follows_the_OpenTelemetry_GenAI_variable_when_it_is_set(string environment, string? variable, bool? captured)
    {
        var builder = App(new Dictionary<string, string?> { [GenAITelemetryOptions.CaptureMessageContentVariable] = variable }, environment);
        builder.AddResilientOpenAI();
        using var host = builder.Build();

        // Null: not set, so the chat clients fall back to "on in Development".
        Assert.Equal(captured, host.Services.GetRequiredService<IOptions<GenAITelemetryOptions>>().Value.CaptureMessageContent);
    }

    [Fact]
    public void The_option_wins_over_the_variable()
    {
        var builder = App(new Dictionary<string, string?>
        {
            [GenAITelemetryOptions.CaptureMessageContentVariable] = "true",
            [$"{GenAITelemetryOptions.SectionName}:CaptureMessageContent"] = "false",
        });
        builder.AddResilientOpenAI();
        using var host = builder.Build();

        Assert.False(host.Services.GetRequiredService<IOptions<GenAITelemetryOptions>>().Value.CaptureMessageContent);
    }

    private static HostApplicationBuilder App(Dictionary<string, string?> settings, string environment = "Production")
    {
        // No defaults: the test's settings are all the configuration there is (no environment variables, no appsettings).
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, EnvironmentName = environment });
        settings["ConnectionStrings:openai"] = "Endpoint=http://upstream.test/v1;Key=test-key";
        builder.Configuration.AddInMemoryCollection(settings);
        return builder;
    }

    /// <summary>An upstream that is down: every request gets a 503, and is counted.</summary>
    private sealed class AlwaysUnavailable : HttpMessageHandler
    {
        private int _requests;

        public int Requests => Volatile.Read(ref _requests);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _requests);
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable) { RequestMessage = request });
        }
    }
}
