using System.Globalization;
using System.Text;
using AspireRetry.OpenAIEmulator.OpenAI;

namespace AspireRetry.OpenAIEmulator.Replies;

/// <summary>A generated reply as tokens; <see cref="Text"/> is their concatenation.</summary>
public sealed record Reply(IReadOnlyList<string> Tokens, string FinishReason, int PromptTokens)
{
    public string Text => string.Concat(Tokens);

    public int CompletionTokens => Tokens.Count;

    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <summary>
/// Writes a short, readable, deterministic reply about the last user message: the same
/// conversation and model always get the same text.
/// </summary>
public static class ReplyGenerator
{
    private const int QuoteLength = 160;

    private static readonly string[] Notes =
    [
        "When a call fails, the server's Retry-After says exactly how long to wait before trying again.",
        "A 429 with insufficient_quota will not fix itself, so retrying it only burns time.",
        "A stream is never re-sent after its first token, so a reply is never shown twice.",
        "Every attempt is its own span, so each retry shows up in the Aspire dashboard.",
        "Jittered backoff keeps many clients from retrying in lockstep.",
    ];

    public static Reply Generate(ChatCompletionRequest request)
    {
        var tokens = Tokenizer.Split(Compose(request));
        var finishReason = "stop";
        if (request.MaxTokens is { } max && tokens.Count > max)
        {
            tokens = [.. tokens.Take(max)];
            finishReason = "length";
        }

        return new Reply(tokens, finishReason, Tokenizer.CountPrompt(request.Messages));
    }

    private static string Compose(ChatCompletionRequest request)
    {
        var question = request.Messages.LastOrDefault(m => m.Role == "user")?.Content.Trim();
        var text = new StringBuilder();
        if (string.IsNullOrEmpty(question))
        {
            text.Append("You have not asked anything yet, so let me introduce myself.\n\n");
        }
        else
        {
            text.Append(CultureInfo.InvariantCulture, $"You asked: \"{Quote(question)}\"\n\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"This is the AspireRetry emulator speaking as {request.Model}. ");
        text.Append(question?.EndsWith('?') == true ? "That is a fair question. " : "Noted. ");
        text.Append("I am not a real model: I answer every message the same way, so the same question always gets this exact reply.\n\n");

        var words = question is null ? 0 : question.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
        var instructions = request.Messages.Any(m => m.Role is "system" or "developer") ? ", including instructions" : "";
        text.Append(CultureInfo.InvariantCulture, $"- Your message has {words} {(words == 1 ? "word" : "words")}.\n");
        text.Append(CultureInfo.InvariantCulture, $"- The conversation has {request.Messages.Count} {(request.Messages.Count == 1 ? "message" : "messages")}{instructions}.\n");
        text.Append(CultureInfo.InvariantCulture, $"- {Notes[StableHash.Of(question ?? "") % (uint)Notes.Length]}");
        return text.ToString();
    }

    private static string Quote(string question)
    {
        var flat = string.Join(' ', question.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        if (flat.Length <= QuoteLength)
        {
            return flat;
        }

        var cut = flat.LastIndexOf(' ', QuoteLength);
        return string.Concat(flat.AsSpan(0, cut > 0 ? cut : QuoteLength), "…");
    }
}
