extern alias emulator;

using System.Diagnostics;
using System.IO.Compression;
using System.Net.Http.Json;
using System.Reflection;
using System.Text.Json;
using emulator::AspireRetry.OpenAIEmulator;
using Microsoft.AspNetCore.Builder;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>
/// The retry library as a consumer gets it: <c>dotnet pack</c> makes the package (with its README), and the
/// console sample under samples/, which knows only the package, calls an emulator of its own through it.
/// </summary>
public sealed class PackedPackageTests
{
    private const string Package = "AspireRetry.OpenAI.Resilience";
    private const int ServerWaitMs = 300;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_console_app_using_the_packed_package_beside_the_templates_standard_handler_makes_one_request_per_attempt()
    {
        var root = Repository.Root;
        // A version of its own, so neither the global package cache nor a parallel run hands back another build.
        var version = $"1.0.0-test.{Guid.NewGuid():N}";
        var feed = Directory.CreateTempSubdirectory("aspireretry-feed-");
        await using var upstream = EmulatorApp.Create(["--urls=http://127.0.0.1:0", "--Emulator:ApiKey=sk-sample", "--Logging:LogLevel:Default=Warning"]);
        try
        {
            await upstream.StartAsync(Ct);
            using var emulatorClient = new HttpClient { BaseAddress = upstream.GetBaseAddress() };

            await RunAsync(root, ["pack", Package, "--no-build", "-c", Configuration, "-o", feed.FullName, $"-p:PackageVersion={version}"]);
            var nupkg = Path.Combine(feed.FullName, $"{Package}.{version}.nupkg");
            using (var zip = ZipFile.OpenRead(nupkg))
            {
                Assert.NotNull(zip.GetEntry("README.md"));
            }

            // Built from the package only: the samples have no project reference and their own build props.
            await RunAsync(root, ["build", "samples/ConsoleChat", "-c", Configuration,
                $"-p:AspireRetryPackageVersion={version}", $"-p:RestoreAdditionalProjectSources={feed.FullName}"]);
            var assets = await File.ReadAllTextAsync(Path.Combine(root, "samples/ConsoleChat/obj/project.assets.json"), Ct);
            Assert.Contains($"\"{Package}/{version}\"", assets, StringComparison.Ordinal);

            (await emulatorClient.PostAsJsonAsync("/emulator/chaos/script", new { outcomes = new[] { $"429:retry-after-ms={ServerWaitMs}", "503:retry-after-ms=0", "ok", "429:retry-after-ms=0", "ok", $"429:retry-after-ms={ServerWaitMs}", "503:retry-after-ms=0", "ok" } }, Ct)).EnsureSuccessStatusCode();
            var output = await RunAsync(root, ["samples/ConsoleChat/bin/" + Configuration + "/net10.0/ConsoleChat.dll"],
                new() { ["ConnectionStrings__openai"] = $"Endpoint={new Uri(upstream.GetBaseAddress(), "/v1")};Key=sk-sample", ["EmbeddingModel"] = "text-embedding-3-small", ["ResponsesModel"] = "gpt-4o" });

            // What the sample heard (its chat client injected from DI, the template's standard handler on every HttpClient):
            // the 429, the server's wait (plus the margin), the 503, then the answer.
            Assert.Contains($"chat attempt 1: 429, next in {ServerWaitMs + OpenAIResilience.ServerDelayMargin.TotalMilliseconds:0} ms", output, StringComparison.Ordinal);
            Assert.Contains("chat attempt 2: 503", output, StringComparison.Ordinal);
            Assert.Contains("chat attempt 3: ok", output, StringComparison.Ordinal);
            Assert.Contains("reply after 3 attempt(s):", output, StringComparison.Ordinal);
            Assert.Contains("embeddings attempt 1: 429", output, StringComparison.Ordinal);
            Assert.Contains("embeddings after 2 attempt(s): 2 vector(s)", output, StringComparison.Ordinal);
            Assert.Contains($"responses attempt 1: 429, next in {ServerWaitMs + OpenAIResilience.ServerDelayMargin.TotalMilliseconds:0} ms", output, StringComparison.Ordinal);
            Assert.Contains("responses attempt 3: ok", output, StringComparison.Ordinal);
            Assert.Contains("responses stream after 3 attempt(s):", output, StringComparison.Ordinal);

            // What the upstream saw: exactly three requests (the standard handler would have multiplied them), the second
            // no sooner than the server asked.
            var seen = (await emulatorClient.GetFromJsonAsync<List<SeenRequest>>("/emulator/requests?limit=100", JsonSerializerOptions.Web, Ct))!
                .OrderBy(r => r.ReceivedAt).ToList();
            Assert.Equal(["rate_limit", "service_unavailable", "ok", "rate_limit", "ok", "rate_limit", "service_unavailable", "ok"], seen.Select(r => r.Outcome));
            Assert.Equal(["chat.completions", "chat.completions", "chat.completions", "embeddings", "embeddings", "responses", "responses", "responses"], seen.Select(r => r.Operation));
            foreach (var (rateLimited, retry) in new[] { (0, 1), (5, 6) })
            {
                var gap = seen[retry].ReceivedAt - seen[rateLimited].ReceivedAt;
                Assert.True(gap >= TimeSpan.FromMilliseconds(ServerWaitMs - 1), $"the retry came {gap.TotalMilliseconds} ms after the 429, before its {ServerWaitMs} ms"); // - 1: the log rounds to the millisecond
            }

            var stats = await emulatorClient.GetFromJsonAsync<JsonElement>("/emulator/stats", Ct);
            Assert.Equal(8, stats.GetProperty("total").GetInt32());
        }
        finally
        {
            feed.Delete(recursive: true);
            // The test's version is of no use to anyone after it: keep the global package cache as it was.
            var cached = Path.Combine(NuGetPackagesFolder(), Package.ToLowerInvariant(), version);
            if (Directory.Exists(cached))
            {
                Directory.Delete(cached, recursive: true);
            }
        }
    }

    /// <summary>One entry of the emulator's request log (GET /emulator/requests).</summary>
    private sealed record SeenRequest(DateTimeOffset ReceivedAt, string Outcome, string Operation);

    private static string Configuration =>
        typeof(PackedPackageTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";

    private static string NuGetPackagesFolder() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } folder
            ? folder
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    /// <summary>Runs <c>dotnet</c> with these arguments in <paramref name="directory"/>; fails the test with its output when it fails.</summary>
    private static async Task<string> RunAsync(string directory, string[] arguments, Dictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in environment ?? [])
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{output}");
        return output;
    }
}
