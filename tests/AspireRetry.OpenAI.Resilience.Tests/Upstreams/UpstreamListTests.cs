using Microsoft.Extensions.Configuration;

namespace AspireRetry.OpenAI.Resilience.Tests;

public sealed class UpstreamListTests
{
    private const string Valid = "Endpoint=https://example.com/v1;Key=sk-secret-value";

    private static IConfiguration Config(params (string Name, string Value)[] connections) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(connections.Select(c => KeyValuePair.Create($"ConnectionStrings:{c.Name}", (string?)c.Value)))
            .Build();

    [Fact]
    public void Upstreams_are_openai_then_openai_2_then_openai_3_in_that_order()
    {
        var upstreams = OpenAIUpstreams.Read(Config(("openai-3", Valid.Replace("example", "third", StringComparison.Ordinal)), ("openai", Valid), ("openai-2", Valid + ";Models=gpt-4o-mini")));

        Assert.Equal(["openai", "openai-2", "openai-3"], upstreams.All.Select(u => u.Name));
        Assert.Equal("third.com", upstreams.All[2].Connection.Endpoint.Host);
        Assert.True(upstreams.All[1].Connection.Serves("gpt-4o-mini"));
        Assert.False(upstreams.All[1].Connection.Serves("gpt-4o"));
        Assert.True(upstreams.All[0].Connection.Serves("gpt-4o"));
    }

    [Fact]
    public void A_numbered_upstream_after_a_gap_stops_start_up_naming_both_keys()
    {
        var error = Assert.Throws<InvalidOperationException>(() => OpenAIUpstreams.Read(Config(("openai", Valid), ("openai-3", Valid))));

        Assert.Contains("ConnectionStrings:openai-3", error.Message, StringComparison.Ordinal);
        Assert.Contains("ConnectionStrings:openai-2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_second_upstream_is_named_and_its_key_not_echoed()
    {
        var error = Assert.Throws<InvalidOperationException>(() => OpenAIUpstreams.Read(Config(("openai", Valid), ("openai-2", "Key=sk-secret-value"))));

        Assert.Contains("ConnectionStrings:openai-2 needs Endpoint=", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-secret-value", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_model_list_is_refused()
    {
        var error = Assert.Throws<InvalidOperationException>(() => OpenAIConnection.Parse(Valid + ";Models= , ", "openai-2"));

        Assert.Contains("ConnectionStrings:openai-2 has Models=", error.Message, StringComparison.Ordinal);
    }
}
