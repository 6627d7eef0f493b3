using AspireRetry.ChatApi.OpenAI;

namespace AspireRetry.ChatApi.Tests;

public sealed class OptionsValidationTests
{
    [Fact]
    public void The_defaults_are_valid() =>
        Assert.True(new ResilienceOptionsValidator().Validate(null, new OpenAIOptions()).Succeeded);

    [Theory]
    [InlineData("TotalTimeout", "OpenAI:Resilience:TotalTimeout")]
    [InlineData("SamplingDuration", "OpenAI:Resilience:CircuitBreaker:SamplingDuration")]
    [InlineData("MaxRetryAttempts", "OpenAI:Resilience:MaxRetryAttempts")]
    [InlineData("MaxDelay", "OpenAI:Resilience:MaxDelay")]
    public void An_invalid_combination_is_rejected_with_a_message_naming_the_key(string change, string key)
    {
        var options = new OpenAIOptions();
        var r = options.Resilience;
        switch (change)
        {
            case "TotalTimeout": r.TotalTimeout = r.AttemptTimeout; break;
            case "SamplingDuration": r.CircuitBreaker.SamplingDuration = r.AttemptTimeout; break;
            case "MaxRetryAttempts": r.MaxRetryAttempts = -1; break;
            case "MaxDelay": r.MaxDelay = r.BaseDelay - TimeSpan.FromMilliseconds(1); break;
        }

        var result = new ResilienceOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(key, result.FailureMessage, StringComparison.Ordinal);
    }
}
