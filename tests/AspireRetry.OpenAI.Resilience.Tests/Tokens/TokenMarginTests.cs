using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// The token reserve sized from the estimate's error on a fake clock: each attempt holds its estimate plus a margin,
/// the largest shortfall of the model's last 16 answers as a share of their mean estimate (the configured reserve share
/// until 16 answers are in), and gets the margin back when its answer's usage settles it.
/// </summary>
public sealed class TokenMarginTests : IDisposable
{
    private static readonly TimeSpan Plenty = TimeSpan.FromMinutes(2);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 4, 12, 0, 0, TimeSpan.Zero));
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public void Dispose() => _services.Dispose();

    /// <summary>A gate whose model has a configured limit of 6,000 tokens a minute (100 a second) and a 10% reserve.</summary>
    private RateLimitGate Gate() =>
        new("test gpt-4o", new RateLimitOptions { Reserve = 0.1, ProbeFirst = false, InitialWindow = 0 }, _time, new ModelRateLimits { TokensPerMinute = 6_000 });

    private static void Answers(RateLimitGate gate, int count, long estimated, long spent)
    {
        for (var i = 0; i < count; i++)
        {
            gate.Shortfall.Learn(estimated, spent);
        }
    }

    [Fact]
    public void Until_sixteen_answers_show_the_estimates_error_a_reservation_holds_the_reserve_share_on_top()
    {
        var gate = Gate();
        Answers(gate, 15, estimated: 1_000, spent: 1_000);

        Assert.Equal(1_100, gate.Reserve(Plenty, tokens: 1_000).Tokens);
    }

    [Fact]
    public void Once_sixteen_answers_spent_no_more_than_estimated_a_reservation_holds_its_estimate_alone()
    {
        var gate = Gate();
        Answers(gate, 16, estimated: 1_000, spent: 980);

        Assert.Equal(1_000, gate.Reserve(Plenty, tokens: 1_000).Tokens);
    }

    [Fact]
    public void The_largest_recent_shortfall_sizes_the_margin_until_sixteen_later_answers_have_pushed_it_out()
    {
        var gate = Gate();
        Answers(gate, 15, estimated: 1_000, spent: 1_000);
        Answers(gate, 1, estimated: 1_000, spent: 1_100);

        // 100 short on a mean estimate of 1,000: every reservation holds a tenth more.
        Assert.Equal(2_200, gate.Reserve(Plenty, tokens: 2_000).Tokens);

        Answers(gate, 16, estimated: 1_000, spent: 1_000);
        Assert.Equal(2_000, gate.Reserve(Plenty, tokens: 2_000).Tokens);
    }

    [Fact]
    public void A_small_requests_large_miss_weighs_by_its_tokens_not_by_its_ratio()
    {
        var gate = Gate();
        Answers(gate, 15, estimated: 2_000, spent: 2_000);
        Answers(gate, 1, estimated: 2, spent: 3); // half as much again, but one token

        // One token short on a mean estimate of 1,875: 2,000 hold two more, not 1,000 more.
        Assert.Equal(2_002, gate.Reserve(Plenty, tokens: 2_000).Tokens);
    }

    [Fact]
    public void One_long_answer_among_short_estimates_makes_the_margin_at_most_the_estimate_again()
    {
        var gate = Gate();
        Answers(gate, 15, estimated: 100, spent: 100);
        Answers(gate, 1, estimated: 100, spent: 1_000); // 900 short on a mean estimate of 100: nine times over

        Assert.Equal(2_000, gate.Reserve(Plenty, tokens: 1_000).Tokens);
    }

    [Fact]
    public void The_margin_comes_back_when_the_answers_usage_settles_the_reservation()
    {
        var gate = Gate();
        var first = gate.Reserve(Plenty, tokens: 1_000);
        Assert.Equal(1_100, first.Tokens); // 4,900 of 6,000 left
        gate.Observe(RateLimitHeaders.None, serverWait: null, start: first.Start);
        var cost = new RequestCost("gpt-4o", PromptTokens: 900, CompletionTokens: 100);

        new TokenReservation(gate, cost, first.Tokens, new RateLimitTelemetry(_services.GetRequiredService<IMeterFactory>())).Settle(input: 900, output: 100);

        // 5,000 left: an estimate of 4,545 with its margin (455) goes now; with the margin still held it would wait 1 s.
        Assert.Equal(GateDecisionKind.Go, gate.Reserve(Plenty, tokens: 4_545).Kind);
    }

    [Fact]
    public void An_answer_that_spent_more_than_its_estimate_widens_the_margin_of_the_next_reservations()
    {
        var gate = Gate();
        Answers(gate, 15, estimated: 1_000, spent: 1_000);
        var first = gate.Reserve(Plenty, tokens: 1_000);
        gate.Observe(RateLimitHeaders.None, serverWait: null, start: first.Start);
        var cost = new RequestCost("gpt-4o", PromptTokens: 900, CompletionTokens: 100);

        // The completion ran 300 tokens past its estimate: the 16th answer is in, and it fell short by 300.
        new TokenReservation(gate, cost, first.Tokens, new RateLimitTelemetry(_services.GetRequiredService<IMeterFactory>())).Settle(input: 900, output: 400);

        // 300 short on a mean estimate of 1,000: three tenths more.
        Assert.Equal(1_300, gate.Reserve(Plenty, tokens: 1_000).Tokens);
    }

    [Fact]
    public void The_margin_never_takes_a_reservation_beyond_the_whole_bucket_and_the_too_large_refusal_goes_by_the_estimate()
    {
        var gate = Gate();

        var decision = gate.Reserve(Plenty, tokens: 5_800); // 6,380 with its margin

        Assert.Equal((GateDecisionKind.Go, 6_000L), (decision.Kind, decision.Tokens));
        Assert.Equal(GateDecisionKind.TooLarge, gate.Reserve(Plenty, tokens: 6_001).Kind);
    }
}
