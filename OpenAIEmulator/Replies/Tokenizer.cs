using System.Text.RegularExpressions;
using AspireRetry.OpenAIEmulator.OpenAI;

namespace AspireRetry.OpenAIEmulator.Replies;

/// <summary>
/// A simple tokenizer: a token is a word (with its leading whitespace) or one punctuation mark.
/// Joining the tokens gives back the text, so streamed deltas add up to the plain reply exactly.
/// </summary>
public static partial class Tokenizer
{
    // OpenAI's accounting: each message costs a few tokens of framing, and the reply is primed.
    private const int TokensPerMessage = 3;
    private const int TokensPerName = 1;
    private const int ReplyPriming = 3;

    public static IReadOnlyList<string> Split(string text) => [.. TokenPattern().Matches(text).Select(m => m.Value)];

    public static int Count(string text) => TokenPattern().Count(text);

    public static int CountPrompt(IEnumerable<ChatMessage> messages) =>
        messages.Sum(m => TokensPerMessage + Count(m.Content) + (m.Name is null ? 0 : TokensPerName)) + ReplyPriming;

    [GeneratedRegex(@"\s*(?:[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*|\S)")]
    private static partial Regex TokenPattern();
}
