using System.Diagnostics;
using AspireRetry.OpenAIEmulator.Chaos;

namespace AspireRetry.OpenAIEmulator;

/// <summary>What the emulator adds to traces and logs, so each attempt shows the fault it met.</summary>
public static partial class EmulatorTelemetry
{
    /// <summary>Tags the ASP.NET Core server span (<c>emulator.fault</c>, <c>emulator.caller</c>).</summary>
    public static void TagServerSpan(string? caller, Fault fault)
    {
        var span = Activity.Current;
        span?.SetTag("emulator.fault", fault.ToFaultName());
        if (caller is not null)
        {
            span?.SetTag("emulator.caller", caller);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Operation} request for {Model} (stream: {Stream}, caller: {Caller}) answered with fault {Fault}")]
    public static partial void FaultInjected(ILogger logger, string operation, string? model, bool stream, string? caller, string fault);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Operation} request for {Model} (stream: {Stream}, caller: {Caller}) answered normally")]
    public static partial void AnsweredNormally(ILogger logger, string operation, string? model, bool stream, string? caller);
}
