using System.Net.Http.Json;
using Aspire.Hosting.Testing;
using Microsoft.Playwright;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>The chat page in a real browser, against the running Aspire app.</summary>
public sealed class ChatPageTests(AspireAppFixture fixture) : IAsyncLifetime
{
    private IPage _page = null!;

    public async ValueTask InitializeAsync()
    {
        await fixture.ResetEmulatorAsync();
        _page = await Browser.NewPageAsync();
        var web = fixture.App.GetEndpoint("webfrontend", "http");
        await _page.GotoAsync(web.ToString());
        await _page.Locator(".chat[data-interactive=true]").WaitForAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _page.Context.CloseAsync();
        await fixture.ResetEmulatorAsync();
    }

    private async Task SendAsync(string text)
    {
        await _page.GetByLabel("Message").FillAsync(text);
        await _page.GetByLabel("Message").PressAsync("Enter");
    }

    private ILocator LastReply => _page.Locator("article.assistant").Last;

    [Fact]
    public async Task A_message_typed_in_the_page_is_answered_with_a_streamed_reply()
    {
        await SendAsync("What is exponential backoff?");

        await Assertions.Expect(LastReply.Locator(".markdown")).ToContainTextAsync("What is exponential backoff?");
        await Assertions.Expect(LastReply.Locator(".meta .attempts")).ToHaveTextAsync("1 attempt");
        await Assertions.Expect(_page.Locator("article.user")).ToHaveTextAsync("What is exponential backoff?");
    }

    [Fact]
    public async Task A_retried_reply_shows_the_live_retry_status_then_three_attempts_in_its_footer()
    {
        await fixture.ScriptAsync(null, "429:retry-after-ms=1500", "503:retry-after-ms=300", "ok");

        await SendAsync("Will this be retried?");

        await Assertions.Expect(LastReply.Locator(".status")).ToContainTextAsync("Rate limited (429) - retrying in");
        await Assertions.Expect(LastReply.Locator(".status")).ToContainTextAsync("(attempt 2 of 4)");
        await Assertions.Expect(LastReply.Locator(".meta .attempts")).ToHaveTextAsync("3 attempts", new() { Timeout = 15_000 });
        await _page.ScreenshotAsync(new() { Path = Browser.ScreenshotPath("chat-retried-reply.png") });
        Assert.Equal(3, (await fixture.Emulator.GetFromJsonAsync<System.Text.Json.JsonElement>("/emulator/stats", TestContext.Current.CancellationToken)).GetProperty("total").GetInt32());
    }
}
