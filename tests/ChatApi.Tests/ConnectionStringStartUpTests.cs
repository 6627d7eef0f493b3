using Microsoft.AspNetCore.Hosting;

namespace AspireRetry.ChatApi.Tests;

/// <summary>ChatApi does not start on a bad upstream connection string, and says which one (how each is read is the library's, tested there).</summary>
public sealed class ConnectionStringStartUpTests
{
    private const string Valid = "Endpoint=https://example.com/v1;Key=sk-secret-value";

    [Fact]
    public void ChatApi_refuses_to_start_without_a_connection_string()
    {
        using var factory = new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program>()
            .WithWebHostBuilder(web => web.UseSetting("ConnectionStrings:openai", ""));

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains("ConnectionStrings:openai", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ChatApi_refuses_to_start_with_a_malformed_second_upstream_naming_it_without_its_key()
    {
        using var factory = new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:openai", Valid);
            web.UseSetting("ConnectionStrings:openai-2", "Endpoint=not a url;Key=sk-secret-value");
        });

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains("ConnectionStrings:openai-2", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("sk-secret-value", error.ToString(), StringComparison.Ordinal);
    }
}
