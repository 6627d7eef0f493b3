using Markdig;
using Microsoft.AspNetCore.Components;

namespace AspireRetry.WebFrontend.Components.Pages;

/// <summary>Renders replies with Markdig. Raw HTML in a reply is shown as text, never run.</summary>
public static class Markdown
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .UseAdvancedExtensions()
        .DisableHtml()
        .Build();

    public static MarkupString ToHtml(string markdown) => new(Markdig.Markdown.ToHtml(markdown, Pipeline));
}
