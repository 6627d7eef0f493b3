namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// What a caller hears of a call's attempts, when the scope it entered to start a stream ends while the stream's first
/// attempt is failing on another thread.
/// </summary>
public sealed class CallProgressTests
{
    [Fact]
    public void Leaving_a_flow_scope_does_not_announce_a_failed_attempt_before_its_retrys_wait_is_known()
    {
        var heard = new List<AttemptReport>();
        var progress = new CallProgress("gpt-4o", heard.Add);

        using (progress.Flow())
        {
            Assert.Same(progress, CallProgress.Current);
        }

        // The stream's first attempt fails after its scope was left, then its retry is scheduled.
        Assert.Null(CallProgress.Current);
        progress.AttemptEnded(progress.AttemptStarted(), "429", 429);
        using (progress.Flow())
        {
            // The scope ending here, between the failure and its retry (as a stream's reader may), announces nothing.
        }

        progress.RetryScheduled("429 rate_limit_exceeded", TimeSpan.FromMilliseconds(160));

        var report = Assert.Single(heard);
        Assert.Equal((1, "429", TimeSpan.FromMilliseconds(160)), (report.Number, report.Outcome, report.Delay));
    }

    [Fact]
    public void Leaving_an_enter_scope_completes_the_call_and_announces_its_last_failed_attempt()
    {
        var heard = new List<AttemptReport>();
        var progress = new CallProgress("gpt-4o", heard.Add);

        using (progress.Enter())
        {
            progress.AttemptEnded(progress.AttemptStarted(), "503", 503);
        }

        var report = Assert.Single(heard);
        Assert.Equal((1, "503", (TimeSpan?)null), (report.Number, report.Outcome, report.Delay));
    }
}
