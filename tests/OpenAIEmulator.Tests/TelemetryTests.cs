using System.Collections.Concurrent;
using System.Diagnostics;
using static AspireRetry.OpenAIEmulator.Tests.EmulatorFixture;

namespace AspireRetry.OpenAIEmulator.Tests;

/// <summary>The server span of every /v1 request says which fault it met and for whom.</summary>
public sealed class TelemetryTests(EmulatorFixture emulator) : IClassFixture<EmulatorFixture>, IDisposable
{
    private readonly ConcurrentQueue<Activity> _spans = new();
    private ActivityListener? _listener;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Server_span_is_tagged_with_the_fault_and_the_caller()
    {
        Listen();
        var caller = NewCaller("telemetry");
        await emulator.ScriptAsync(caller, "503", "ok");
        using var http = emulator.CreateClient(caller);

        using var failed = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);
        using var succeeded = await http.PostAsync("v1/chat/completions", ChatBody(), Ct);

        await EventuallyAsync(() => Task.FromResult(Mine(caller).Count == 2), "two tagged server spans");
        Assert.Equal(["service_unavailable", "none"], Mine(caller).Select(s => s.GetTagItem("emulator.fault") as string));
        Assert.All(Mine(caller), s => Assert.Equal(ActivityKind.Server, s.Kind));
    }

    [Fact]
    public async Task Validation_errors_are_tagged_with_their_own_fault_names()
    {
        Listen();
        var caller = NewCaller("telemetry-invalid");
        using var http = emulator.CreateClient(caller);

        using var invalid = await http.PostAsync("v1/chat/completions", Json("""{"model":"gpt-4o"}"""), Ct);
        using var unknownModel = await http.PostAsync("v1/chat/completions", ChatBody(model: "gpt-0"), Ct);

        await EventuallyAsync(() => Task.FromResult(Mine(caller).Count == 2), "two tagged server spans");
        Assert.Equal(["invalid_request", "model_not_found"], Mine(caller).Select(s => s.GetTagItem("emulator.fault") as string));
    }

    public void Dispose() => _listener?.Dispose();

    private void Listen()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _spans.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    private List<Activity> Mine(string caller) =>
        [.. _spans.Where(s => s.GetTagItem("emulator.caller") as string == caller).OrderBy(s => s.StartTimeUtc)];
}
