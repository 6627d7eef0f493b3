using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using OpenTelemetry;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The one place that decides which traces are noise. The dashboard's Traces page should read as the
/// story of what people did: one trace per chat message, one per page load, one per chaos action.
/// Blazor Server's plumbing alone would bury that under thousands of traces (measured: 2,294
/// <c>webfrontend</c> traces after about 20 messages, one per render of a streamed delta), so it is
/// dropped here, with the reason next to each rule.
/// </summary>
public static class TraceNoise
{
    /// <summary>
    /// Requests whose server span is not worth a trace. Static files and Blazor's transport
    /// (<c>/_blazor</c> negotiate, the circuit's WebSocket, reconnect) are machinery of a page load,
    /// whose trace is the document request itself; health probes come every few seconds.
    /// </summary>
    public static bool IsTracedRequest(HttpContext context)
    {
        var path = context.Request.Path;
        return !path.StartsWithSegments(Extensions.HealthEndpointPath)
            && !path.StartsWithSegments(Extensions.AlivenessEndpointPath)
            && !path.StartsWithSegments("/_blazor")
            && !path.StartsWithSegments("/_framework")
            && !path.StartsWithSegments("/_content")
            && !Path.HasExtension(path.Value); // app.css, blazor.web.js, favicon.svg, Chat.razor.js ...
    }

    /// <summary>
    /// Runs the HTTP calls made inside it, and everything they cause downstream, untraced: the calls
    /// carry a <c>traceparent</c> whose sampled flag is off, so the services they reach drop their
    /// spans too. For background reads that are not something a person did (the chat page re-reading
    /// the chaos scenario before each message, the interactive pass of a page load repeating what the
    /// prerendered pass already traced).
    /// </summary>
    public static IDisposable Untraced()
    {
        var previous = Activity.Current;
        Activity.Current = null;
        var scope = new Activity("untraced");
        scope.SetParentId(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.None);
        scope.Start(); // no ActivitySource: no listener records it; it only gives children an unsampled parent
        return new UntracedScope(scope, previous);
    }

    private sealed class UntracedScope(Activity scope, Activity? previous) : IDisposable
    {
        public void Dispose()
        {
            scope.Stop();
            Activity.Current = previous;
        }
    }

    /// <summary>
    /// Drops Blazor's component spans that are not a person's action, when they end: the circuit's
    /// lifetime (<c>Circuit {id}</c>), navigation within a page load (<c>Route / -> Chat</c>, twice per
    /// load: prerendered, then interactive) and <c>oninput</c> events (one per keystroke). A click,
    /// a submit or a change keeps its trace: that is what the person did. These spans have no
    /// children, so dropping them at the end leaves no orphans.
    /// </summary>
    internal sealed class BlazorPlumbingFilter : BaseProcessor<Activity>
    {
        private const string ComponentsSource = "Microsoft.AspNetCore.Components";
        private const string CircuitsSource = "Microsoft.AspNetCore.Components.Server.Circuits";

        public override void OnEnd(Activity data)
        {
            if (IsPlumbing(data))
            {
                // Exporters skip an activity that is not recorded.
                data.ActivityTraceFlags &= ~ActivityTraceFlags.Recorded;
            }
        }

        internal static bool IsPlumbing(Activity activity) => activity.Source.Name switch
        {
            CircuitsSource => true,
            ComponentsSource => activity.DisplayName.StartsWith("Route ", StringComparison.Ordinal)
                || activity.DisplayName.StartsWith("Event oninput ", StringComparison.Ordinal),
            _ => false,
        };
    }
}
