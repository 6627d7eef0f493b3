using System.Text;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>A request's token cost, estimated before it is sent, as the gate will reserve it.</summary>
public sealed class RequestCostTests
{
    private static readonly Uri Chat = new("https://api.openai.com/v1/chat/completions");

    [Theory]
    [InlineData("gpt-4o", "o200k")]
    [InlineData("gpt-4o-mini", "o200k")]
    [InlineData("gpt-4.1-nano", "o200k")]
    [InlineData("o3-mini", "o200k")]
    [InlineData("gpt-4", "cl100k")]
    [InlineData("gpt-35-turbo", "cl100k")]
    [InlineData("text-embedding-3-small", "cl100k")]
    [InlineData("my-azure-deployment", null)]
    [InlineData("llama-3.1-70b", null)]
    public void A_model_is_counted_with_its_familys_encoding(string model, string? encoding) =>
        Assert.Equal(encoding, TokenCounter.EncodingOf(model));

    [Fact]
    public void Known_models_count_real_tokens_and_unknown_ones_four_characters_a_token()
    {
        Assert.Equal(2, TokenCounter.Count("gpt-4o", "Hello world"));
        Assert.Equal(3, TokenCounter.Count("my-deployment", "Hello world")); // 11 characters, rounded up
        Assert.Equal(0, TokenCounter.Count("gpt-4o", ""));
    }

    [Fact]
    public void A_chat_request_costs_its_framed_messages_and_its_max_tokens()
    {
        var cost = Read(Chat, """{"model":"gpt-4o","max_tokens":50,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hello world"}]}]}""");

        Assert.NotNull(cost);
        Assert.Equal("gpt-4o", cost.Model);
        Assert.Equal(3 + (3 + TokenCounter.Count("gpt-4o", "Be brief.")) + (3 + 2), cost.PromptTokens);
        Assert.Equal(50, cost.CompletionTokens);
    }

    [Fact]
    public void Without_a_limit_the_completion_is_the_models_largest_recent_one()
    {
        var sizes = new CompletionSizes();
        const string Body = """{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}""";
        Assert.Equal(CompletionSizes.Default, Read(Chat, Body, sizes)!.CompletionTokens);

        sizes.Learn("gpt-4o", 80);
        sizes.Learn("gpt-4o", 120);
        sizes.Learn("gpt-4o", 60);
        sizes.Learn("gpt-4o-mini", 900);

        Assert.Equal(120, Read(Chat, Body, sizes)!.CompletionTokens);
        for (var i = 0; i < CompletionSizes.Window; i++)
        {
            sizes.Learn("gpt-4o", 70);
        }

        Assert.Equal(70, Read(Chat, Body, sizes)!.CompletionTokens); // the 120 has left the window
    }

    [Fact]
    public void Embeddings_cost_the_sum_of_their_inputs_and_no_completion()
    {
        var cost = Read(new Uri("https://api.openai.com/v1/embeddings"), """{"model":"text-embedding-3-small","input":["Hello world","one retry layer",[1,2,3]]}""");

        Assert.NotNull(cost);
        Assert.Equal(TokenCounter.Count("text-embedding-3-small", "Hello world") + TokenCounter.Count("text-embedding-3-small", "one retry layer") + 3, cost.PromptTokens);
        Assert.Equal(0, cost.CompletionTokens);
    }

    [Fact]
    public void A_responses_request_counts_its_instructions_and_input_items_and_max_output_tokens()
    {
        var cost = Read(new Uri("https://api.openai.com/v1/responses"),
            """{"model":"gpt-4o","instructions":"Be brief.","max_output_tokens":64,"input":[{"role":"user","content":[{"type":"input_text","text":"Hello world"}]}]}""");

        Assert.NotNull(cost);
        Assert.Equal(3 + (3 + TokenCounter.Count("gpt-4o", "Be brief.")) + (3 + 2), cost.PromptTokens);
        Assert.Equal(64, cost.CompletionTokens);
    }

    [Fact]
    public void An_azure_deployment_path_names_the_model()
    {
        var cost = Read(new Uri("https://r.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2025-04-01-preview"),
            """{"messages":[{"role":"user","content":"Hello world"}],"max_tokens":10}""");

        Assert.Equal("gpt-4o", cost?.Model);
    }

    [Theory]
    [InlineData("https://api.openai.com/v1/files", """{"model":"gpt-4o"}""")]
    [InlineData("https://api.openai.com/v1/chat/completions", "not json")]
    [InlineData("https://api.openai.com/v1/chat/completions", """["a list"]""")]
    [InlineData("https://api.openai.com/v1/chat/completions", """{"messages":[]}""")]
    [InlineData("https://api.openai.com/v1/chat/completions", "")]
    public void Anything_else_has_no_token_cost(string uri, string body) => Assert.Null(Read(new Uri(uri), body));

    private static RequestCost? Read(Uri uri, string body, CompletionSizes? sizes = null) =>
        RequestCost.Read(uri, Encoding.UTF8.GetBytes(body), sizes ?? new CompletionSizes());
}
