using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// Every C# snippet of the library's README compiles, as a console app's Program.cs would, against the assemblies an
/// app that adopts it has (this test's own: the library, the OpenAI and Azure SDKs, Microsoft.Extensions.AI, the Redis
/// store). A snippet that starts from <c>builder</c> without making one gets <c>var builder = Host.CreateApplicationBuilder(args);</c>.
/// </summary>
public sealed partial class ReadmeSnippetTests
{
    private static readonly string[] ImplicitUsings =
    [
        "System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Threading", "System.Threading.Tasks",
        "Microsoft.Extensions.Configuration", "Microsoft.Extensions.DependencyInjection", "Microsoft.Extensions.Hosting", "Microsoft.Extensions.Logging",
    ];

    private static readonly Lazy<MetadataReference[]> References = new(() =>
        [.. ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator).Select(path => MetadataReference.CreateFromFile(path))]);

    // What the .NET SDK never reports either (its default NoWarn): a newer version of a referenced assembly is taken.
    private static readonly Dictionary<string, ReportDiagnostic> SdkNoWarn = new() { ["CS1701"] = ReportDiagnostic.Suppress, ["CS1702"] = ReportDiagnostic.Suppress };

    public static TheoryData<int, string> Snippets()
    {
        var readme = File.ReadAllText(Path.Combine(Repository.Root, "AspireRetry.OpenAI.Resilience", "README.md"));
        var data = new TheoryData<int, string>();
        foreach (var (snippet, i) in CSharpBlock().Matches(readme).Select((m, i) => (m.Groups["code"].Value, i + 1)))
        {
            data.Add(i, snippet);
        }

        return data;
    }

    [Fact]
    public void The_readme_shows_the_ways_in()
    {
        var code = string.Join('\n', Snippets().Select(row => row.Data.Item2));

        Assert.True(Snippets().Count >= 5, $"only {Snippets().Count} C# snippets in the README");
        foreach (var shown in new[] { "AddResilientOpenAI", "AddChatClient", "AddEmbeddingGenerator", "GetResponsesClient", "UseResilientCallScope", "UseResilientTransport", "AzureOpenAIClient", "TokenCredential", "AddRedisUpstreamSharedState" })
        {
            Assert.Contains(shown, code, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(Snippets))]
    public void A_snippet_compiles_as_a_programs_main_file(int number, string snippet)
    {
        var lines = snippet.Split('\n');
        var header = lines.TakeWhile(l => l.TrimStart() is var t && (t.Length == 0 || t.StartsWith("using ", StringComparison.Ordinal) || t.StartsWith("#pragma", StringComparison.Ordinal) || t.StartsWith("//", StringComparison.Ordinal))).ToList();
        var body = string.Join('\n', lines.Skip(header.Count));
        var preamble = body.Contains("var builder", StringComparison.Ordinal) ? "" : "var builder = Host.CreateApplicationBuilder(args);\n";
        var program = string.Join('\n', header) + "\n" + preamble + body;

        var compilation = CSharpCompilation.Create(
            $"ReadmeSnippet{number}",
            [
                CSharpSyntaxTree.ParseText(string.Concat(ImplicitUsings.Select(u => $"global using {u};\n")), path: "GlobalUsings.cs", cancellationToken: TestContext.Current.CancellationToken),
                CSharpSyntaxTree.ParseText(program, path: "Program.cs", cancellationToken: TestContext.Current.CancellationToken),
            ],
            References.Value,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable)
                .WithSpecificDiagnosticOptions(SdkNoWarn));
        using var output = new MemoryStream();
        var result = compilation.Emit(output, cancellationToken: TestContext.Current.CancellationToken);

        var problems = result.Diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning).Select(d => d.ToString()).ToList();
        Assert.True(problems.Count == 0, $"README snippet {number} does not compile cleanly:\n{string.Join('\n', problems)}\n--- Program.cs ---\n{program}");
    }

    [GeneratedRegex(@"^```csharp\n(?<code>.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();
}
