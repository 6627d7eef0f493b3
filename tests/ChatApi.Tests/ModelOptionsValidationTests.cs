using AspireRetry.ChatApi.Chat;

namespace AspireRetry.ChatApi.Tests;

/// <summary>ChatApi's own options; the retry layer's are the library's, tested with it.</summary>
public sealed class ModelOptionsValidationTests
{
    [Fact]
    public void The_defaults_are_valid() =>
        Assert.True(new ModelOptionsValidator().Validate(null, new ModelOptions()).Succeeded);

    [Fact]
    public void An_empty_model_name_is_rejected_naming_the_key()
    {
        var result = new ModelOptionsValidator().Validate(null, new ModelOptions { Models = ["gpt-4o", " "] });

        Assert.True(result.Failed);
        Assert.Contains("OpenAI:Models", result.FailureMessage, StringComparison.Ordinal);
    }
}
