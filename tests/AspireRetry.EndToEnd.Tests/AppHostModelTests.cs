using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using AspireRetry.WebFrontend.Services;
using Microsoft.Extensions.Configuration;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>The AppHost's model, built but not started: which upstream it wires, and whether the chat page may break it.</summary>
public sealed class AppHostModelTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(bool Emulator, bool PageReferencesEmulator, bool ChatApiReferencesOpenAI)> ModelAsync(string connectionString)
    {
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>([$"--ConnectionStrings:openai={connectionString}"], Ct);
        var emulator = builder.Resources.Any(r => r.Name == "openai-emulator");
        bool References(string from, string to) => builder.Resources.Single(r => r.Name == from).Annotations
            .OfType<ResourceRelationshipAnnotation>().Any(a => a.Resource.Name == to);
        return (emulator, References("webfrontend", "openai-emulator"), References("chatapi", "openai"));
    }

    [Fact]
    public async Task Without_a_connection_string_the_emulator_is_the_upstream_and_the_chat_page_can_script_it()
    {
        var (emulator, pageReferencesEmulator, chatApiReferencesOpenAI) = await ModelAsync("");

        Assert.True(emulator);
        Assert.True(pageReferencesEmulator);
        Assert.True(chatApiReferencesOpenAI);
    }

    [Fact]
    public async Task With_a_real_endpoint_no_emulator_starts_and_the_chat_page_has_nothing_to_break()
    {
        var (emulator, pageReferencesEmulator, chatApiReferencesOpenAI) = await ModelAsync("Endpoint=https://example.invalid/v1;Key=sk-not-a-real-key");

        Assert.False(emulator);
        Assert.False(pageReferencesEmulator);
        Assert.True(chatApiReferencesOpenAI);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_chaos_panel_is_available_exactly_when_service_discovery_knows_the_emulator(bool referenced)
    {
        var settings = new Dictionary<string, string?> { ["services:chatapi:http:0"] = "http://localhost:5180" };
        if (referenced)
        {
            settings["services:openai-emulator:http:0"] = "http://localhost:5199";
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

        Assert.Equal(referenced, EmulatorChaosClient.IsConfigured(configuration));
    }
}
