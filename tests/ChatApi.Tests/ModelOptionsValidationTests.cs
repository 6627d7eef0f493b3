using AspireRetry.ChatApi.Chat;

namespace AspireRetry.ChatApi.Tests;

/// <summary>ChatApi's own options; the retry layer's are the library's, tested with it.</summary>
public sealed class ModelOptionsValidationTests(ChatApiFixture fixture)
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

    [Fact]
    public void A_blank_fallback_model_is_rejected_naming_the_key()
    {
        var result = new ModelOptionsValidator().Validate(null, new ModelOptions { FallbackModel = " " });

        Assert.True(result.Failed);
        Assert.Contains("OpenAI:FallbackModel", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void The_fallback_model_at_its_old_key_stops_start_up_saying_where_it_moved()
    {
        // Left at the retry library's section, it would silently turn the fallback off.
        using var api = fixture.CreateApi(new Dictionary<string, string?> { ["OpenAI:Resilience:FallbackModel"] = "gpt-4o-mini" });

        var error = Assert.Throws<InvalidOperationException>(() => api.CreateClient());
        Assert.Contains("has moved to OpenAI:FallbackModel", error.Message, StringComparison.Ordinal);
    }
}
