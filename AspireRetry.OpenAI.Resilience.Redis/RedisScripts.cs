
namespace AspireRetry.OpenAI.Resilience.Redis;

/// <summary>
/// The Lua scripts, one per decision, each in its own file under <c>Scripts/</c> (embedded in the assembly) so they
/// read as Lua. Every script starts with <c>clock.lua</c>: it reads Redis's clock, so replicas never compare their own.
/// </summary>
internal static class RedisScripts
{
    private static readonly string Clock = Load("clock.lua");

    /// <summary>The rate-limit gate's reservation.</summary>
    public static readonly string Reserve = Clock + "\n" + Load("reserve.lua");

    /// <summary>What one response said to the gate.</summary>
    public static readonly string Observe = Clock + "\n" + Load("observe.lua");

    /// <summary>An answer's usage settles the tokens its attempt reserved.</summary>
    public static readonly string Settle = Clock + "\n" + Load("settle.lua");

    /// <summary>The retry budget's window.</summary>
    public static readonly string Budget = Clock + "\n" + Load("budget.lua");

    /// <summary>The breaker's verdict and the check lease.</summary>
    public static readonly string Recovery = Clock + "\n" + Load("recovery.lua");

    private static string Load(string name)
    {
        using var stream = typeof(RedisScripts).Assembly.GetManifestResourceStream($"AspireRetry.OpenAI.Resilience.Redis.Scripts.{name}")
            ?? throw new InvalidOperationException($"The Lua script {name} is not embedded in {typeof(RedisScripts).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
