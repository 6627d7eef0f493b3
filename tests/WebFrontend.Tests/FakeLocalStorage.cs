using System.Text.Json;
using AspireRetry.WebFrontend.Components.Pages;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.JSInterop;

namespace AspireRetry.WebFrontend.Tests;

/// <summary>
/// The page's JS module (Chat.razor.js) over an in-memory localStorage: <c>load</c>, <c>save</c>,
/// <c>append</c> and <c>clear</c> do what the module does, and every call is logged in order.
/// </summary>
internal sealed class FakeLocalStorage : IJSObjectReference
{
    public Dictionary<string, string> Items { get; } = [];

    /// <summary>Each call as "function key", with the appended text for <c>append</c>.</summary>
    public List<string> Calls { get; } = [];

    public ConversationStorage Storage(string? run = null) => new(this, NullLogger.Instance, run);

    /// <summary>The saved conversation's entries, as the browser holds them.</summary>
    public JsonElement[] SavedEntries() =>
        [.. JsonDocument.Parse(Items[ConversationStorage.Key]).RootElement.GetProperty("entries").EnumerateArray()];

    public ValueTask<TValue> InvokeAsync<TValue>(string identifier, object?[]? args) => InvokeAsync<TValue>(identifier, CancellationToken.None, args);

    public ValueTask<TValue> InvokeAsync<TValue>(string identifier, CancellationToken cancellationToken, object?[]? args)
    {
        var key = (string)args![0]!;
        var value = args.Length > 1 ? args[1] as string : null;
        Calls.Add(identifier == "append" ? $"append {key} {value}" : $"{identifier} {key}");
        object? result = identifier switch
        {
            "load" => Items.GetValueOrDefault(key),
            "save" => Items[key] = value!,
            "append" => Items[key] = Items.GetValueOrDefault(key, "") + value,
            "clear" => Items.Remove(key),
            _ => throw new InvalidOperationException($"Chat.razor.js has no function '{identifier}'."),
        };

        object? answer = identifier == "load" ? result : true; // the module's writes say whether the browser took them
        return ValueTask.FromResult((TValue)answer!);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
