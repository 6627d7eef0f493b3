using Microsoft.Playwright;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>
/// Debian's chromium driven by Playwright (no browser download is possible here). Locally the browser
/// tests skip with a message when chromium is missing; in CI (CI=true) a missing chromium is a failure.
/// </summary>
public static class Browser
{
    // Debian's and Ubuntu's chromium, then Chromium or Chrome where macOS and Windows install them (as test.sh looks).
    private static readonly string[] Candidates =
    [
        "/usr/bin/chromium", "/usr/bin/chromium-browser",
        "/Applications/Chromium.app/Contents/MacOS/Chromium", "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
        @"C:\Program Files\Google\Chrome\Application\chrome.exe",
    ];
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static IPlaywright? _playwright;
    private static IBrowser? _browser;

    public static string? ExecutablePath => Environment.GetEnvironmentVariable("CHROMIUM_PATH") is { Length: > 0 } path
        ? path
        : Candidates.FirstOrDefault(File.Exists);

    public static async Task<IPage> NewPageAsync(int width = 1280, int height = 860)
    {
        var executable = ExecutablePath;
        if (executable is null)
        {
            if (Environment.GetEnvironmentVariable("CI") is "true")
            {
                Assert.Fail("chromium is not installed; ./test.sh installs it (apt-get install chromium).");
            }

            Assert.Skip("chromium is not installed: ./test.sh installs it (or set CHROMIUM_PATH to a Chromium or Chrome) to run the browser tests.");
            return null!; // not reached: Assert.Skip throws
        }

        await Gate.WaitAsync();
        try
        {
            _playwright ??= await Playwright.CreateAsync();
            _browser ??= await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = executable,
                Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
            });
        }
        finally
        {
            Gate.Release();
        }

        var context = await _browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = width, Height = height } });
        return await context.NewPageAsync();
    }

    /// <summary>
    /// Where screenshots go: with UPDATE_SCREENSHOTS=1, docs/ of the repository (what the README shows);
    /// otherwise the test output folder, so a plain test run changes no tracked file.
    /// </summary>
    public static string ScreenshotPath(string name)
    {
        if (Environment.GetEnvironmentVariable("UPDATE_SCREENSHOTS") is not "1")
        {
            var output = Path.Combine(AppContext.BaseDirectory, "screenshots");
            Directory.CreateDirectory(output);
            return Path.Combine(output, name);
        }

        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "AspireRetry.sln")))
        {
            dir = dir.Parent;
        }

        var docs = Path.Combine(dir?.FullName ?? AppContext.BaseDirectory, "docs");
        Directory.CreateDirectory(docs);
        return Path.Combine(docs, name);
    }
}
