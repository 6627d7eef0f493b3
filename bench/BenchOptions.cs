namespace AspireRetry.Bench;

/// <summary>Command line: <c>[--quick] [--out DIR]</c>.</summary>
public sealed record BenchOptions(bool Quick, string OutputDirectory, IReadOnlyList<string> Only, bool Dump)
{
    public const string Usage = """
        Usage: dotnet run -c Release --project bench -- [--quick] [--out DIR]
          --quick    CI smoke check: a few calls per scenario at a faster time scale, no micro-benchmark,
                     a one-second load run; writes to artifacts/bench-quick unless --out is given.
          --out DIR  Where benchmarks.md and the charts go (default: docs/ in the repository).
          --only ID  Run only this scenario (repeatable: rate-limited, transient-5xx, outage, slow-completions,
                     quota, storm, failover, tokens), or "load" for only the load run of /api/chat/stream; skips the
                     rest of the overhead part and writes no report.
          --dump     Print every call's attempts (sent, answered, status, server wait) after each scenario.
        """;

    /// <summary>Null (after printing why) when the arguments are not understood.</summary>
    public static BenchOptions? Parse(string[] args)
    {
        var quick = false;
        var dump = false;
        string? output = null;
        var only = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick":
                    quick = true;
                    break;
                case "--out" when i + 1 < args.Length:
                    output = args[++i];
                    break;
                case "--only" when i + 1 < args.Length && (args[i + 1] == Overhead.StreamLoad.Id || Scenarios.Scenario.All.Any(s => s.Id == args[i + 1])):
                    only.Add(args[++i]);
                    break;
                case "--only":
                    Console.Error.WriteLine($"--only needs a scenario id or {Overhead.StreamLoad.Id}: {string.Join(", ", Scenarios.Scenario.All.Select(s => s.Id))}.");
                    return null;
                case "--dump":
                    dump = true;
                    break;
                default:
                    Console.Error.WriteLine($"Unknown argument '{args[i]}'.");
                    Console.Error.WriteLine(Usage);
                    return null;
            }
        }

        var root = RepositoryRoot();
        return new BenchOptions(quick, Path.GetFullPath(output ?? (quick ? Path.Combine(root, "artifacts", "bench-quick") : Path.Combine(root, "docs"))), only, dump);
    }

    /// <summary>The folder holding AspireRetry.sln, found upwards from the working directory, else the working directory.</summary>
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AspireRetry.sln")))
            {
                return dir.FullName;
            }
        }

        return Environment.CurrentDirectory;
    }
}
