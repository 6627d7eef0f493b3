namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>The checkout the tests run from, for what they read or build from it.</summary>
internal static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AspireRetry.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("AspireRetry.sln not found above " + AppContext.BaseDirectory);
    }
}
