using Markdig;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;
using Microsoft.AspNetCore.Components;

namespace AspireRetry.WebFrontend.Components.Pages;

/// <summary>
/// Renders replies with Markdig. A reply is text from a model, so it is treated as hostile: raw HTML is
/// shown as text, never run, and a link or image whose address is not http(s), mailto or relative
/// (<c>javascript:</c>, <c>data:</c>, ...) loses its address.
/// </summary>
public static class Markdown
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .UseAdvancedExtensions()
        .DisableHtml()
        .Build();

    public static MarkupString ToHtml(string markdown)
    {
        var document = Markdig.Markdown.Parse(markdown, Pipeline);
        foreach (var link in document.Descendants<LinkInline>())
        {
            if (!IsSafe(link.Url))
            {
                link.Url = "#";
            }
        }

        foreach (var link in document.Descendants<AutolinkInline>())
        {
            if (!link.IsEmail && !IsSafe(link.Url))
            {
                link.Url = "#";
            }
        }

        return new(document.ToHtml(Pipeline));
    }

    private static bool IsSafe(string? url)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            return true;
        }

        // Browsers ignore whitespace and control characters inside a scheme ("java\tscript:"), so judge the address without them.
        var compact = new string([.. url.Where(c => !char.IsWhiteSpace(c) && !char.IsControl(c))]);
        var colon = compact.IndexOf(':', StringComparison.Ordinal);
        var delimiter = compact.IndexOfAny(['/', '?', '#']);
        if (colon < 0 || (delimiter >= 0 && delimiter < colon))
        {
            return true; // relative: no scheme at all
        }

        if (!Uri.TryCreate(compact, UriKind.Absolute, out var absolute))
        {
            return false;
        }

        return absolute.Scheme is "http" or "https" or "mailto";
    }
}
