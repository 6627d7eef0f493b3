namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The tokens an answered attempt holds at its gate, until its usage says what it spent. The call scope settles it when
/// the response (or the stream's last chunk) reports usage; unsettled, the estimate stays spent, and the published counts
/// correct the gate's mirror. Settles once.
/// </summary>
/// <param name="gate">The gate whose mirror holds the tokens.</param>
/// <param name="cost">The request's estimate.</param>
/// <param name="held">The tokens reserved: the estimate and its margin.</param>
/// <param name="telemetry">Where the estimate's error is recorded.</param>
/// <param name="settleShared">Settles the same tokens in the replicas' shared bucket, when they were taken from it.</param>
internal sealed class TokenReservation(RateLimitGate gate, RequestCost cost, long held, RateLimitTelemetry telemetry, Action<long, long>? settleShared = null)
{
    private int _settled;

    /// <summary>The tokens reserved for the attempt.</summary>
    public long Held => held;

    /// <summary>
    /// The answer reported <paramref name="input"/> and <paramref name="output"/> tokens: the gate gets back what the
    /// reservation held beyond them (or gives up what it held too little), the model's completion size and how far the
    /// estimate fell short are learned, and the estimate's error is recorded. Nothing happens when neither is known.
    /// </summary>
    public void Settle(long? input, long? output)
    {
        if ((input is null && output is null) || Interlocked.Exchange(ref _settled, 1) == 1)
        {
            return;
        }

        var spent = (input ?? cost.PromptTokens) + (output ?? 0);
        gate.SettleTokens(held, spent);
        settleShared?.Invoke(held, spent);
        if (output is { } completion)
        {
            gate.Completions.Learn(cost.Model, (int)Math.Min(completion, int.MaxValue));
        }

        gate.Shortfall.Learn(cost.Total, spent);
        telemetry.EstimateError(cost.Model, "total", spent, cost.Total);
        if (input is { } prompt)
        {
            telemetry.EstimateError(cost.Model, "prompt", prompt, cost.PromptTokens);
        }
    }
}
