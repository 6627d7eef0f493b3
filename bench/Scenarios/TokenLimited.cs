extern alias emulator;

using System.Text;
using AspireRetry.Bench.Measuring;
using AspireRetry.Bench.Strategies;
using EmulatorTokenizer = emulator::AspireRetry.OpenAIEmulator.Replies.Tokenizer;

namespace AspireRetry.Bench.Scenarios;

/// <summary>
/// Tokens, not requests, are the limit: concurrent callers send chat prompts of about 100 to 8,000 tokens and batches
/// of embeddings against the upstream's token buckets (one per model, as OpenAI limits each model), which refill
/// continuously and publish <c>x-ratelimit-*-tokens</c>. Their requests bucket is far larger, so it never binds.
/// Judged: the tokens delivered as answered work over what the buckets allowed while calls were being started, and the
/// share of upstream requests answered 429.
/// </summary>
public sealed class TokenLimited : Scenario
{
    /// <summary>Tokens each model's bucket holds and regains per window.</summary>
    public const int TokensPerWindow = 40_000;

    /// <summary>The buckets' window, in scenario seconds.</summary>
    public const double WindowSeconds = 10;

    /// <summary>Requests per window: far above what the calls can send, so tokens are the binding limit.</summary>
    private const int RequestsPerWindow = 100_000;

    private const int ChatCallers = 6;
    private const int EmbeddingCallers = 2;

    /// <summary>How long calls are started for (and the span measured), in windows.</summary>
    private static int Windows(bool quick) => quick ? 2 : 4;

    /// <summary>The models whose buckets the calls spend.</summary>
    private static readonly string[] Models = [OpenAISdk.Model, OpenAISdk.EmbeddingModel];

    public override string Id => "tokens";

    public override string Title => "Token bucket (mixed prompt sizes, embeddings)";

    public override bool Embeds => true;

    public override string Setup =>
        $"{ChatCallers} chat callers and {EmbeddingCallers} embeddings callers, all with one key, each making one call after another for {Windows(false)} windows ({Windows(true)} with `--quick`), " +
        $"taking the next job of a queue of {TokenWorkload.Count:N0} prompts or batches (a call that fails is not made again). Chat prompts are {TokenWorkload.MinPromptTokens:N0} to {TokenWorkload.MaxPromptTokens:N0} tokens (log-uniform, so most are short and a few are long), with no `max_tokens`; " +
        $"embeddings batches are {TokenWorkload.MinInputs} to {TokenWorkload.MaxInputs} inputs of {TokenWorkload.MinInputTokens} to {TokenWorkload.MaxInputTokens} tokens each " +
        $"({OpenAISdk.EmbeddingModel}). The same sequence of prompts and batches goes to every strategy. The upstream has one token bucket per model " +
        $"({OpenAISdk.Model} and {OpenAISdk.EmbeddingModel}), each {TokensPerWindow:N0} tokens per {WindowSeconds:0} s window ({TokensPerMinute:N0} a minute), starting full and refilling continuously; " +
        "a request is admitted only when its prompt and completion tokens (embeddings: its inputs' tokens) fit in the bucket, and is otherwise answered 429 " +
        "with `retry-after-ms` = the time until they would fit (no request is larger than a bucket, so each can be admitted). Responses publish `x-ratelimit-*` " +
        $"for tokens and for requests, whose bucket ({RequestsPerWindow:N0} per window) never binds. The warm-up calls (two rounds of a chat and an embeddings call, not measured) met the same limits: a running app has seen its limits before. " +
        "*Delivered* is the tokens (the upstream's `usage.total_tokens`) of the answers to calls that succeeded, for requests sent while calls were being started, " +
        "over what the two buckets could admit in that time (a full bucket each, plus their refill); calls still running at the end finish but are not counted. " +
        "*429 share* is the share of upstream requests answered 429. Latency over ideal is not judged here (n/a): a call's wait depends on the tokens of the calls ahead of it. " +
        "The emulator counts tokens with its own simple tokenizer (a word or a punctuation mark is one token), not OpenAI's tiktoken: " +
        "AspireRetry estimates with tiktoken, so its estimate differs from what this upstream charges by the ratio shown below the table; against OpenAI itself the prompt estimate would be close to exact.";

    private static int TokensPerMinute => (int)(TokensPerWindow * 60 / WindowSeconds);

    /// <summary>The warm-up calls meet the same limits, so a client that learns them knows them already, as a running app does.</summary>
    public override object WarmUpProfile(TimeScale scale) => Profile(scale);

    private object Profile(TimeScale scale) => new
    {
        name = Id,
        rateLimiter = new { enabled = true, requestsPerWindow = RequestsPerWindow, tokensPerWindow = TokensPerWindow, windowMs = scale.Ms(WindowSeconds) },
    };

    public override async Task<IReadOnlyList<CallRecord>> RunAsync(ScenarioRun run, CancellationToken cancellationToken)
    {
        // Made before the clock's span starts (the first use builds every prompt and batch).
        var workload = TokenWorkload.Instance;
        await run.Emulator.SetProfileAsync(Profile(run.Scale), cancellationToken);

        var windows = Windows(run.Quick);
        var from = run.Clock.NowMs;
        var until = from + run.Scale.Ms(windows * WindowSeconds);
        run.Tokens = new TokenAccount(from, until, Models.Length * (double)TokensPerWindow * (1 + windows));

        var records = new List<CallRecord>();
        var nextPrompt = -1;
        var nextBatch = -1;

        // Each caller takes the next job of its queue until the time is up or the queue is empty (a strategy that fails its
        // calls at once goes through the queue, and stops, rather than spin).
        async Task CallerAsync(Func<int, Task<CallRecord>> call, Func<int> next)
        {
            int job;
            while (run.Clock.NowMs < until && (job = next()) < TokenWorkload.Count)
            {
                var record = await call(job);
                lock (records)
                {
                    records.Add(record);
                }
            }
        }

        var callers = Enumerable.Range(0, ChatCallers)
            .Select(_ => CallerAsync(job => run.ChatAsync(Id, workload.Prompts[job], cancellationToken), () => Interlocked.Increment(ref nextPrompt)))
            .Concat(Enumerable.Range(0, EmbeddingCallers)
                .Select(_ => CallerAsync(job => run.EmbedAsync(Id, workload.Batches[job], cancellationToken), () => Interlocked.Increment(ref nextBatch))));
        await Task.WhenAll(callers);
        return [.. records.OrderBy(r => r.StartMs)];
    }
}

/// <summary>
/// The scenario's prompts and embeddings batches: plain English about rate limits, sized in the emulator's tokens (what
/// its buckets charge), drawn from a fixed seed so every strategy gets the same sequence.
/// </summary>
internal sealed class TokenWorkload
{
    public const int MinPromptTokens = 100;
    public const int MaxPromptTokens = 8_000;
    public const int MinInputs = 4;
    public const int MaxInputs = 32;
    public const int MinInputTokens = 20;
    public const int MaxInputTokens = 300;

    /// <summary>Jobs in each queue: several times the calls a strategy can finish in the run, so no queue runs dry unless its calls fail at once.</summary>
    public const int Count = 400;

    private static readonly string[] Sentences =
    [
        "A rate limit counts the tokens of every request as well as the requests themselves.",
        "When the bucket is empty, the server answers with status 429 and says how long to wait.",
        "The wait is given in milliseconds, so a client that reads it can come back at the right moment.",
        "A client that retries at once only spends another request on the same refusal.",
        "Tokens come back into the bucket at a steady rate, a little every millisecond.",
        "A long prompt needs many tokens at once, so it has to wait until the bucket holds enough of them.",
        "Short prompts fit in almost any gap, and a busy client can fill the bucket with them.",
        "The headers of each answer tell how many tokens remain and when the bucket will be full again.",
        "An estimate made before the request is sent can be a little high or a little low.",
        "What the answer reports as used settles the difference between the estimate and the real count.",
        "Embeddings turn each input into a list of numbers that can be compared with others.",
        "A batch of inputs costs the sum of their tokens, and it is charged all at once.",
        "Backoff with jitter spreads the retries of many clients over time.",
        "A circuit breaker stops calls to an upstream that keeps failing, and tries again later.",
        "The same limit is shared by every call that uses the same key and model.",
        "If many callers wait for the same limit, the first to ask is not always the first to be served.",
        "Pacing the calls keeps the bucket from running dry and avoids most refusals.",
        "Each attempt is its own span in the trace, so every retry can be seen.",
        "A request that is larger than the whole bucket can never be admitted, however long it waits.",
        "Good clients keep a small reserve for the requests that are already on their way.",
    ];

    private static readonly int[] SentenceTokens = [.. Sentences.Select(EmulatorTokenizer.Count)];

    private readonly string[] _prompts;
    private readonly IReadOnlyList<string>[] _batches;

    private TokenWorkload()
    {
        var random = new Random(22);
        _prompts = [.. Enumerable.Range(0, Count).Select(_ => Prompt(random))];
        _batches = [.. Enumerable.Range(0, Count).Select(_ => Batch(random))];
    }

    public static TokenWorkload Instance { get; } = new();

    /// <summary>The chat callers' queue, in order.</summary>
    public IReadOnlyList<string> Prompts => _prompts;

    /// <summary>The embeddings callers' queue, in order.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Batches => _batches;

    private static string Prompt(Random random)
    {
        // Log-uniform: as many prompts from 100 to 900 tokens as from 900 to 8,000.
        var target = (int)Math.Round(Math.Exp(Math.Log(MinPromptTokens) + (random.NextDouble() * (Math.Log(MaxPromptTokens) - Math.Log(MinPromptTokens)))));
        return Text(random, "Summarise these notes in one paragraph:", target);
    }

    private static string[] Batch(Random random) =>
        [.. Enumerable.Range(0, random.Next(MinInputs, MaxInputs + 1)).Select(_ => Text(random, "", random.Next(MinInputTokens, MaxInputTokens + 1)))];

    /// <summary>Sentences after <paramref name="lead"/> until the text holds at least <paramref name="tokens"/> of the emulator's tokens.</summary>
    private static string Text(Random random, string lead, int tokens)
    {
        var text = new StringBuilder(lead);
        var count = EmulatorTokenizer.Count(lead);
        while (count < tokens)
        {
            var i = random.Next(Sentences.Length);
            if (text.Length > 0)
            {
                text.Append(' ');
            }

            text.Append(Sentences[i]);
            count += SentenceTokens[i];
        }

        return text.ToString();
    }
}
