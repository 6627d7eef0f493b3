using AspireRetry.WebFrontend.Components.Pages;

namespace AspireRetry.EndToEnd.Tests;

/// <summary>The chat page's Markdown renderer treats a reply as hostile text.</summary>
public sealed class MarkdownTests
{
    [Theory]
    [InlineData("<script>alert(1)</script>", "<script")]
    [InlineData("<img src=x onerror=alert(1)>", "<img")]
    [InlineData("[click](javascript:alert(1))", "href=\"javascript:")]
    [InlineData("[click](JaVaScRiPt:alert(1))", "href=\"javascript:")]
    [InlineData("[click](<java\tscript:alert(1)>)", "href=\"java")]
    [InlineData("[click](&#106;avascript:alert(1))", "href=\"javascript")]
    [InlineData("[click](data:text/html;base64,PHNjcmlwdD4=)", "href=\"data:")]
    [InlineData("![x](javascript:alert(1))", "src=\"javascript:")]
    [InlineData("<javascript:alert(1)>", "href=\"javascript:")]
    [InlineData("<a href=\"https://example.com\" onclick=\"alert(1)\">x</a>", "<a href")]
    public void Hostile_markup_in_a_reply_is_rendered_inert(string reply, string mustNotAppear)
    {
        var html = Markdown.ToHtml(reply).Value;

        Assert.DoesNotContain(mustNotAppear, html, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("[docs](https://learn.microsoft.com/dotnet)", "href=\"https://learn.microsoft.com/dotnet\"")]
    [InlineData("[mail](mailto:team@example.com)", "href=\"mailto:team@example.com\"")]
    [InlineData("[here](/traces?x=a:b)", "href=\"/traces?x=a:b\"")]
    [InlineData("```csharp\nvar x = 1;\n```", "<pre><code class=\"language-csharp\">")]
    [InlineData("**bold** and `code`", "<strong>bold</strong> and <code>code</code>")]
    public void Ordinary_markdown_still_renders(string reply, string expected)
    {
        Assert.Contains(expected, Markdown.ToHtml(reply).Value, StringComparison.Ordinal);
    }
}
