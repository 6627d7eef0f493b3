namespace AspireRetry.OpenAI.Resilience.Tests;

public sealed class ConnectionStringTests
{
    [Theory]
    [InlineData(null, "ConnectionStrings:openai is missing")]
    [InlineData("", "ConnectionStrings:openai is missing")]
    [InlineData("Key=sk-secret-value", "needs Endpoint=")]
    [InlineData("Endpoint=ftp://example.com/v1;Key=sk-secret-value", "needs Endpoint=")]
    [InlineData("Endpoint=https://api.openai.com/v1", "needs Key=")]
    [InlineData("Endpoint=https://api.openai.com/v1;Key=\"sk-secret-value", "not a valid connection string")]
    public void A_missing_or_malformed_connection_string_is_named_and_the_key_is_not_echoed(string? value, string expected)
    {
        var error = Assert.Throws<InvalidOperationException>(() => OpenAIConnection.Parse(value));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-secret-value", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_valid_connection_string_gives_endpoint_and_key_and_prints_without_the_key()
    {
        var connection = OpenAIConnection.Parse("Endpoint=http://localhost:5199/v1;Key=sk-secret-value");

        Assert.Equal(new Uri("http://localhost:5199/v1"), connection.Endpoint);
        Assert.Equal("sk-secret-value", connection.Key);
        Assert.DoesNotContain("sk-secret-value", connection.ToString(), StringComparison.Ordinal);
    }
}
