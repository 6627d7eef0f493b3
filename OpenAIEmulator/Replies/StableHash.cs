namespace AspireRetry.OpenAIEmulator.Replies;

/// <summary>FNV-1a over the text's characters: string.GetHashCode is randomised per process, and replies must be the same across runs.</summary>
public static class StableHash
{
    public static uint Of(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash;
    }
}
