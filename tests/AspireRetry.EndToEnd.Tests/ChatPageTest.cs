using Aspire.Hosting.Testing;
using Microsoft.Playwright;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>
/// A test that drives the chat page in chromium: a calm emulator, a fresh browser context (so a fresh
/// localStorage, hence an empty conversation), the page open and interactive, and every console error
/// it logs collected for <see cref="AssertNoConsoleErrors"/>.
/// </summary>
public abstract class ChatPageTest(AspireAppFixture fixture) : IAsyncLifetime
{
    private readonly List<string> _consoleErrors = [];

    protected AspireAppFixture Fixture { get; } = fixture;

    protected IPage Page { get; private set; } = null!;

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected ILocator LastReply => Page.Locator("article.assistant").Last;

    public async ValueTask InitializeAsync()
    {
        await Fixture.ResetEmulatorAsync();
        Page = await Browser.NewPageAsync();
        Page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                _consoleErrors.Add(message.Text);
            }
        };
        await Page.GotoAsync(Fixture.App.GetEndpoint("webfrontend", "http").ToString());
        await WaitInteractiveAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Page.Context.CloseAsync();
        await Fixture.ResetEmulatorAsync();
        GC.SuppressFinalize(this);
    }

    /// <summary>Blazor Server: typing before the circuit is interactive would be lost.</summary>
    protected async Task WaitInteractiveAsync() => await Page.Locator(".chat[data-interactive=true]").WaitForAsync();

    protected async Task SendAsync(string text)
    {
        // A reply shows its footer as soon as its last event arrives, and the page takes the next message once it has
        // saved the conversation (Stop turns back into Send): Enter before that is ignored, as it is for a person.
        await Assertions.Expect(Page.Locator("button.stop")).ToHaveCountAsync(0);
        await Page.GetByLabel("Message").FillAsync(text);
        await Page.GetByLabel("Message").PressAsync("Enter");
    }

    protected async Task OpenChaosPanelAsync()
    {
        var panel = Page.Locator("details.chaos");
        if (await panel.GetAttributeAsync("open") is null)
        {
            await panel.Locator("summary").ClickAsync();
        }
    }

    protected void AssertNoConsoleErrors() => Assert.Empty(_consoleErrors);
}
