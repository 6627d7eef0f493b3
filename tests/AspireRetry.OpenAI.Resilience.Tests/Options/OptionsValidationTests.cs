using Microsoft.Extensions.Configuration;

namespace AspireRetry.OpenAI.Resilience.Tests;

public sealed class OptionsValidationTests
{
    [Fact]
    public void The_defaults_are_valid() =>
        Assert.True(new ResilienceOptionsValidator().Validate(null, new ResilienceOptions()).Succeeded);

    [Theory]
    [InlineData("TotalTimeout", "OpenAI:Resilience:TotalTimeout")]
    [InlineData("SamplingDuration", "OpenAI:Resilience:CircuitBreaker:SamplingDuration")]
    [InlineData("MaxRetryAttempts", "OpenAI:Resilience:MaxRetryAttempts")]
    [InlineData("MaxDelay", "OpenAI:Resilience:MaxDelay")]
    [InlineData("Reserve", "OpenAI:Resilience:RateLimit:Reserve")]
    [InlineData("ReleaseInterval", "OpenAI:Resilience:RateLimit:ReleaseInterval")]
    [InlineData("Ratio", "OpenAI:Resilience:RateLimit:RetryBudget:Ratio")]
    [InlineData("MinRetriesPerSecond", "OpenAI:Resilience:RateLimit:RetryBudget:MinRetriesPerSecond")]
    [InlineData("Window", "OpenAI:Resilience:RateLimit:RetryBudget:Window")]
    [InlineData("AttemptTimeout", "OpenAI:Resilience:AttemptTimeout")]
    [InlineData("FailureRatio", "OpenAI:Resilience:CircuitBreaker:FailureRatio")]
    [InlineData("BreakDuration", "OpenAI:Resilience:CircuitBreaker:BreakDuration")]
    [InlineData("MaxRecoveryWait", "OpenAI:Resilience:CircuitBreaker:MaxRecoveryWait")]
    public void An_invalid_combination_is_rejected_with_a_message_naming_the_key(string change, string key)
    {
        var r = new ResilienceOptions();
        switch (change)
        {
            case "TotalTimeout": r.TotalTimeout = r.AttemptTimeout; break;
            case "SamplingDuration": r.CircuitBreaker.SamplingDuration = r.AttemptTimeout; break;
            case "MaxRetryAttempts": r.MaxRetryAttempts = -1; break;
            case "MaxDelay": r.MaxDelay = r.BaseDelay - TimeSpan.FromMilliseconds(1); break;
            case "Reserve": r.RateLimit.Reserve = 1; break;
            case "ReleaseInterval": r.RateLimit.ReleaseInterval = r.MaxServerDelay + TimeSpan.FromSeconds(1); break;
            case "Ratio": r.RateLimit.RetryBudget.Ratio = -0.1; break;
            case "MinRetriesPerSecond": r.RateLimit.RetryBudget.MinRetriesPerSecond = -1; break;
            case "Window": r.RateLimit.RetryBudget.Window = TimeSpan.Zero; break;
            case "AttemptTimeout": r.AttemptTimeout = TimeSpan.Zero; break;
            case "FailureRatio": r.CircuitBreaker.FailureRatio = 0; break;
            case "BreakDuration": r.CircuitBreaker.BreakDuration = TimeSpan.FromMilliseconds(99); break;
            case "MaxRecoveryWait": r.CircuitBreaker.MaxRecoveryWait = TimeSpan.FromSeconds(-1); break;
        }

        var result = new ResilienceOptionsValidator().Validate(null, r);

        Assert.True(result.Failed);
        Assert.Contains(key, result.FailureMessage, StringComparison.Ordinal);
    }
}

public sealed class RateLimitOptionsStartupTests
{
    [Fact]
    public async Task A_bad_rate_limit_setting_stops_start_up_naming_the_key()
    {
        // The library's one registration entry point, on a plain host: only the options are under test.
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:openai"] = "Endpoint=http://127.0.0.1:1/v1;Key=sk-test",
            ["OpenAI:Resilience:RateLimit:Reserve"] = "1.5",
        });
        builder.AddResilientOpenAI();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(
            () => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains("OpenAI:Resilience:RateLimit:Reserve", error.Message, StringComparison.Ordinal);
    }
}
