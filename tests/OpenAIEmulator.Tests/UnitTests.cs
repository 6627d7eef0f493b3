using AspireRetry.OpenAIEmulator.Chaos;
using AspireRetry.OpenAIEmulator.OpenAI;
using AspireRetry.OpenAIEmulator.Replies;

namespace AspireRetry.OpenAIEmulator.Tests;

/// <summary>The small pure pieces: outcome grammar, duration format, baggage, tokenizer, replies.</summary>
public sealed class UnitTests
{
    [Theory]
    [InlineData("ok", Fault.None)]
    [InlineData("429", Fault.RateLimit)]
    [InlineData(" quota ", Fault.InsufficientQuota)]
    [InlineData("503:retry-after=3", Fault.ServiceUnavailable)]
    [InlineData("429:x-ms-retry-after-ms=1500", Fault.RateLimit)]
    [InlineData("HANG:ms=10", Fault.Hang)]
    [InlineData("slow-first-token:ms=5", Fault.SlowFirstToken)]
    [InlineData("slow-stream:tps=2.5", Fault.SlowStream)]
    [InlineData("disconnect:after=0", Fault.MidStreamDisconnect)]
    public void Outcome_grammar_reads_kinds_and_options(string text, Fault fault)
    {
        Assert.True(OutcomeGrammar.TryParse(text, out var outcome, out var error), error);
        Assert.Equal(fault, outcome.Fault);
    }

    [Fact]
    public void Outcome_grammar_keeps_option_values()
    {
        Assert.True(OutcomeGrammar.TryParse("429:retry-after-ms=150,retry-after=1", out var limited, out _));
        Assert.True(OutcomeGrammar.TryParse("slow-stream:tps=2.5", out var slow, out _));
        Assert.True(OutcomeGrammar.TryParse("disconnect:after=7", out var cut, out _));

        Assert.True(OutcomeGrammar.TryParse("429:x-ms-retry-after-ms=1500,retry-after=2", out var azure, out _));

        Assert.Equal(new RetryAfterSpec(150, 1, null), limited.RetryAfter);
        Assert.Equal(new RetryAfterSpec(null, 2, null, 1500), azure.RetryAfter);
        Assert.Equal(2.5, slow.TokensPerSecond);
        Assert.Equal(7, cut.AfterChunks);
    }

    [Theory]
    [InlineData("418", "unknown kind '418'")]
    [InlineData("429:wait=1", "unknown option 'wait'")]
    [InlineData("reset:after=1", "takes no options")]
    [InlineData("hang:ms", "needs a value")]
    [InlineData("hang:ms=soon", "whole number")]
    [InlineData("slow-stream:tps=0", "greater than 0")]
    [InlineData("429:retry-after=1,retry-after-date=2", "use one of them")]
    public void Outcome_grammar_explains_what_is_wrong(string text, string expected)
    {
        Assert.False(OutcomeGrammar.TryParse(text, out _, out var error));
        Assert.Contains(expected, error);
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(0.2, "1ms")]
    [InlineData(20, "20ms")]
    [InlineData(999, "999ms")]
    [InlineData(1000, "1s")]
    [InlineData(1500, "1.5s")]
    [InlineData(59_999, "59.999s")]
    [InlineData(360_000, "6m0s")]
    [InlineData(61_250, "1m1.25s")]
    [InlineData(3_723_000, "1h2m3s")]
    public void Durations_use_OpenAI_reset_format(double milliseconds, string expected) =>
        Assert.Equal(expected, OpenAIHeaders.FormatDuration(TimeSpan.FromMilliseconds(milliseconds)));

    [Theory]
    [InlineData("emulator.caller=abc", "abc")]
    [InlineData("a=1, emulator.caller = test%20one ;prop=2 ,b=3", "test one")]
    [InlineData("a=1,b=2", null)]
    [InlineData("emulator.caller=", null)]
    [InlineData("", null)]
    public void Caller_is_found_in_baggage(string baggage, string? expected) =>
        Assert.Equal(expected, CallerKey.FromBaggage(baggage));

    [Fact]
    public void Tokens_join_back_into_the_text_and_split_words_from_punctuation()
    {
        const string text = "Hello, world! It's 42.\n\n- A list item.";

        var tokens = Tokenizer.Split(text);

        Assert.Equal(text, string.Concat(tokens));
        Assert.Equal(["Hello", ",", " world", "!", " It's", " 42", ".", "\n\n-", " A", " list", " item", "."], tokens);
        Assert.Equal(tokens.Count, Tokenizer.Count(text));
    }

    [Fact]
    public void Prompt_tokens_count_every_message_with_its_framing()
    {
        ChatMessage[] messages = [new("system", "Be brief."), new("user", "Hi there")];

        // (3 + 3) + (3 + 2) + 3 for priming the reply.
        Assert.Equal(14, Tokenizer.CountPrompt(messages));
    }

    [Fact]
    public void Reply_quotes_the_last_user_message_and_names_the_model()
    {
        var request = new ChatCompletionRequest("gpt-4o-mini", [new("user", "First?"), new("assistant", "Yes."), new("user", "What about   retries?")]);

        var reply = ReplyGenerator.Generate(request);

        Assert.StartsWith("You asked: \"What about retries?\"", reply.Text);
        Assert.Contains("speaking as gpt-4o-mini", reply.Text);
        Assert.Contains("- The conversation has 3 messages.", reply.Text);
        Assert.Equal("stop", reply.FinishReason);
        Assert.Equal(reply.Text, ReplyGenerator.Generate(request).Text);
    }

    [Fact]
    public void Long_questions_are_quoted_shortened_at_a_word()
    {
        var question = string.Join(' ', Enumerable.Repeat("retry", 100));

        var reply = ReplyGenerator.Generate(new ChatCompletionRequest("gpt-4o", [new("user", question)]));

        Assert.Contains("retry retry…\"", reply.Text);
        Assert.True(reply.Text.IndexOf('\n') < 200);
    }

    [Fact]
    public void Max_tokens_truncates_the_reply_with_finish_reason_length()
    {
        var reply = ReplyGenerator.Generate(new ChatCompletionRequest("gpt-4o", [new("user", "Hi")], MaxTokens: 3));

        Assert.Equal(3, reply.CompletionTokens);
        Assert.Equal("length", reply.FinishReason);
        Assert.Equal("You asked:", reply.Text);
    }
}
