using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>The AppHost's model for more than one upstream, built but not started.</summary>
public sealed class AppHostUpstreamsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static bool References(IDistributedApplicationTestingBuilder builder, string from, string to) =>
        builder.Resources.Single(r => r.Name == from).Annotations.OfType<ResourceRelationshipAnnotation>().Any(a => a.Resource.Name == to);

    [Fact]
    public async Task AppHost_Upstreams_2_starts_two_emulators_wired_to_ChatApi_in_order_and_to_the_chaos_panel()
    {
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(["--ConnectionStrings:openai=", "--AppHost:Upstreams=2"], Ct);

        Assert.Equal(["openai-emulator", "openai-emulator-2"], builder.Resources.OfType<ProjectResource>().Select(r => r.Name).Where(n => n.StartsWith("openai-emulator", StringComparison.Ordinal)));
        Assert.True(References(builder, "chatapi", "openai"));
        Assert.True(References(builder, "chatapi", "openai-2"));
        Assert.True(References(builder, "webfrontend", "openai-emulator"));
        Assert.True(References(builder, "webfrontend", "openai-emulator-2"));

        // Under `dotnet run` the first emulator keeps its launch profile's port; another on the same port would be
        // load-balanced with it (requests for openai reached openai-2 and were refused its key).
        var ports = (string[])["openai-emulator", "openai-emulator-2"];
        var fixedPorts = ports.Select(name => builder.Resources.Single(r => r.Name == name).Annotations.OfType<EndpointAnnotation>().Single(e => e.Name == "http").Port).ToList();
        Assert.Equal(5199, fixedPorts[0]);
        Assert.Null(fixedPorts[1]);

        // Each emulator's row in the dashboard has its own chaos buttons, which act on that emulator.
        foreach (var emulator in (string[])["openai-emulator", "openai-emulator-2"])
        {
            var commands = builder.Resources.Single(r => r.Name == emulator).Annotations.OfType<ResourceCommandAnnotation>().Select(c => c.Name);
            Assert.Equal(["chaos-calm", "chaos-flaky-30", "chaos-rate-limited", "chaos-outage", "chaos-slow-stream", "chaos-broken-stream", "chaos-quota-exhausted"],
                commands.Where(c => c.StartsWith("chaos-", StringComparison.Ordinal))); // every scenario of the chat page's panel
        }
    }

    [Fact]
    public async Task Real_endpoints_are_every_numbered_connection_string_and_no_emulator_starts()
    {
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
            ["--ConnectionStrings:openai=Endpoint=https://one.invalid/v1;Key=sk-one", "--ConnectionStrings:openai-2=Endpoint=https://two.invalid/v1;Key=sk-two"], Ct);

        Assert.DoesNotContain(builder.Resources, r => r.Name.StartsWith("openai-emulator", StringComparison.Ordinal));
        Assert.True(References(builder, "chatapi", "openai"));
        Assert.True(References(builder, "chatapi", "openai-2"));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("two")]
    public async Task A_bad_number_of_upstreams_stops_the_AppHost_naming_the_key(string value)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(["--ConnectionStrings:openai=", $"--AppHost:Upstreams={value}"], Ct);
        });

        Assert.Contains("AppHost:Upstreams", error.ToString(), StringComparison.Ordinal);
    }
}
