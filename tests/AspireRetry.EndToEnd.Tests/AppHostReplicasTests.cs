using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>The AppHost's model for ChatApi replicas that share state through Redis, built but not started.</summary>
public sealed class AppHostReplicasTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static IResource ChatApi(IDistributedApplicationTestingBuilder builder) => builder.Resources.Single(r => r.Name == "chatapi");

    [Fact]
    public async Task By_default_one_ChatApi_keeps_its_state_in_process_and_no_Redis_starts()
    {
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(["--ConnectionStrings:openai="], Ct);

        Assert.DoesNotContain(builder.Resources, r => r.Name == "redis");
        Assert.Empty(ChatApi(builder).Annotations.OfType<ReplicaAnnotation>());
        Assert.DoesNotContain(ChatApi(builder).Annotations.OfType<ResourceRelationshipAnnotation>(), a => a.Resource.Name == "redis");
    }

    [Fact]
    public async Task ChatApi_Replicas_3_starts_three_replicas_that_reference_one_Redis()
    {
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(["--ConnectionStrings:openai=", "--ChatApi:Replicas=3"], Ct);

        Assert.Equal(3, ChatApi(builder).Annotations.OfType<ReplicaAnnotation>().Single().Replicas);
        var redis = Assert.Single(builder.Resources, r => r.Name == "redis");
        // Aspire's container where a container runtime answers, redis-server from the PATH where none does (as on CI).
        Assert.IsAssignableFrom<IResourceWithConnectionString>(redis);
        if (redis is ExecutableResource)
        {
            // ChatApi talks to redis-server itself: behind DCP's proxy a killed Redis hung its clients instead of refusing them.
            Assert.False(redis.Annotations.OfType<EndpointAnnotation>().Single().IsProxied);
        }

        Assert.Contains(ChatApi(builder).Annotations.OfType<ResourceRelationshipAnnotation>(), a => a.Resource.Name == "redis");
    }

    [Fact]
    public async Task ChatApi_Replicas_1_is_the_default_app()
    {
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(["--ConnectionStrings:openai=", "--ChatApi:Replicas=1"], Ct);

        Assert.DoesNotContain(builder.Resources, r => r.Name == "redis");
        Assert.Empty(ChatApi(builder).Annotations.OfType<ReplicaAnnotation>());
    }

    [Theory]
    [InlineData("0")]
    [InlineData("11")]
    [InlineData("three")]
    [InlineData("-2")]
    public async Task A_bad_number_of_replicas_stops_the_AppHost_naming_the_key(string value)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(["--ConnectionStrings:openai=", $"--ChatApi:Replicas={value}"], Ct);
        });

        Assert.Contains("ChatApi:Replicas", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChatApi_SharedState_false_runs_the_replicas_without_Redis()
    {
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(["--ConnectionStrings:openai=", "--ChatApi:Replicas=3", "--ChatApi:SharedState=false"], Ct);

        Assert.Equal(3, ChatApi(builder).Annotations.OfType<ReplicaAnnotation>().Single().Replicas);
        Assert.DoesNotContain(builder.Resources, r => r.Name == "redis");
    }

    [Fact]
    public async Task A_bad_sharing_switch_stops_the_AppHost_naming_the_key()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(["--ConnectionStrings:openai=", "--ChatApi:Replicas=3", "--ChatApi:SharedState=maybe"], Ct);
        });

        Assert.Contains("ChatApi:SharedState", error.ToString(), StringComparison.Ordinal);
    }
}
