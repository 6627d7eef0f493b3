using System.ClientModel;
using System.Diagnostics;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AspireRetry.OpenAI.Resilience.Redis.Tests;

/// <summary>
/// One app that calls the upstream through the library, built the way the README tells users to: a host, the store's
/// registration, <c>AddResilientOpenAI()</c>, <see cref="ResilientChatClients"/>. Only the primary HTTP handler is the
/// test's: the <see cref="FakeUpstream"/>. Two of them on one Redis are two replicas.
/// </summary>
public sealed class Replica : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly ResilientChatClients _chat;

    private Replica(string name, IHost host)
    {
        Name = name;
        _host = host;
        _chat = host.Services.GetRequiredService<ResilientChatClients>();
    }

    public string Name { get; }

    public static async Task<Replica> StartAsync(string name, StateStore store, FakeUpstream upstream, IReadOnlyDictionary<string, string?> settings)
    {
        // No defaults: the test's settings are all the configuration there is (no environment variables, no appsettings).
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        store.Register(builder);
        builder.AddResilientOpenAI().HttpClient.ConfigurePrimaryHttpMessageHandler(() => upstream.HandlerFor(name));

        var host = builder.Build();
        GenAISpans.Listen();

        // Validates the options and, with Redis, waits for the connection (the store's warm-up), as an app's start does.
        await host.StartAsync(TestContext.Current.CancellationToken);
        return new Replica(name, host);
    }

    /// <summary>
    /// One chat call, observed as an app would: its outcome, its <see cref="CallProgress"/> (whose reports
    /// <paramref name="onAttempt"/> hears as they happen) and its GenAI span's events.
    /// </summary>
    public async Task<CallOutcome> ChatAsync(string model, string message, Action<AttemptReport>? onAttempt = null)
    {
        // A parent of the call's own, so its GenAI span is found among those of the calls running beside it.
        using var parent = new Activity($"test call by {Name}").Start();
        var progress = new CallProgress(model, onAttempt);
        Exception? error = null;
        using (progress.Enter())
        {
            try
            {
                await _chat.Get(model).GetResponseAsync(message, cancellationToken: TestContext.Current.CancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                error = ex;
            }

            progress.Complete();
        }

        var events = GenAISpans.Under(parent.SpanId).SelectMany(span => span.Events).ToList();
        return new CallOutcome(Name, error, progress, events);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync(CancellationToken.None);
        _host.Dispose();
    }
}

/// <summary>What one call came to, as its caller and an operator see it.</summary>
/// <param name="Replica">The replica that made it.</param>
/// <param name="Error">Why it failed; null when it was answered.</param>
/// <param name="Progress">Its attempts, and why the layer stopped early when it did.</param>
/// <param name="Events">The events on its GenAI span, in order.</param>
public sealed record CallOutcome(string Replica, Exception? Error, CallProgress Progress, IReadOnlyList<ActivityEvent> Events)
{
    public bool Ok => Error is null;

    /// <summary>The upstream's status, when the call failed with one.</summary>
    public int? Status => Failure<ClientResultException>()?.Status;

    /// <summary>The exception of this type in the failure's chain (the SDK and the failover may wrap the layer's own).</summary>
    public T? Failure<T>()
        where T : Exception
    {
        for (var ex = Error; ex is not null; ex = ex.InnerException)
        {
            if (ex is T found)
            {
                return found;
            }
        }

        return null;
    }

    public IReadOnlyList<ActivityEvent> EventsNamed(string name) => [.. Events.Where(e => e.Name == name)];

    public override string ToString() =>
        $"call by {Replica}: {(Ok ? "answered" : $"{Error!.GetType().Name} {Status} {Error.Message}")} after {Progress.Attempts} attempt(s)" +
        $"{(Progress.StopReason is { } why ? $"; stopped: {why}" : "")}; events: {EventsInBrief()}";

    /// <summary>The events' names in order, a run of one name told once with its count (a call polling a down upstream has hundreds).</summary>
    private string EventsInBrief()
    {
        var runs = new List<(string Name, int Count)>();
        foreach (var e in Events)
        {
            if (runs.Count > 0 && runs[^1].Name == e.Name)
            {
                runs[^1] = (e.Name, runs[^1].Count + 1);
            }
            else
            {
                runs.Add((e.Name, 1));
            }
        }

        return string.Join(", ", runs.Select(r => r.Count == 1 ? r.Name : $"{r.Name} x{r.Count}"));
    }
}
