// A console app that uses the retry layer from its NuGet package, as any app would: the few lines of
// "Use it in your own app". Set ConnectionStrings__openai="Endpoint=<base url ending in /v1>;Key=<key>".
using System.Globalization;
using AspireRetry.OpenAI.Resilience;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenAI;

var builder = Host.CreateApplicationBuilder(args);

// What the Aspire template's ServiceDefaults do: the standard resilience handler on every HttpClient. The layer's own
// client drops it, so there is still one retry layer.
builder.Services.ConfigureHttpClientDefaults(http => http.AddStandardResilienceHandler());

var model = builder.Configuration["Model"] ?? "gpt-4o";
var embeddingModel = builder.Configuration["EmbeddingModel"];
var responsesModel = builder.Configuration["ResponsesModel"];
var prompt = builder.Configuration["Prompt"] ?? "Say hello.";

var openai = builder.AddResilientOpenAI();
openai.AddChatClient(model);
if (embeddingModel is not null)
{
    openai.AddEmbeddingGenerator(embeddingModel);
}

if (responsesModel is not null)
{
    // The Responses API as an IChatClient over the registered OpenAIClient, with the layer's call scope (the model's own
    // pipeline) and failover (the same client on each upstream).
#pragma warning disable OPENAI001 // The Responses API is experimental in the OpenAI SDK.
    builder.Services.AddKeyedChatClient("responses", services => services.GetRequiredService<OpenAIClient>().GetResponsesClient().AsIChatClient(responsesModel))
        .UseResilientCallScope()
        .UseUpstreamFailover((client, model) => client.GetResponsesClient().AsIChatClient(model));
#pragma warning restore OPENAI001
}

using var host = builder.Build();

// Each attempt as it happens; the lines are what the packed-package test reads.
static CallProgress Observe(string what, string model) => new(model, attempt => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{what} attempt {attempt.Number}: {attempt.Outcome}{(attempt.Delay is { } delay ? $", next in {delay.TotalMilliseconds:0} ms" : "")}")));

var chat = host.Services.GetRequiredService<IChatClient>();
var progress = Observe("chat", model);
using (progress.Enter())
{
    var reply = await chat.GetResponseAsync(prompt);
    Console.WriteLine($"reply after {progress.Attempts} attempt(s): {reply.Text}");
}

if (embeddingModel is not null)
{
    var embeddings = host.Services.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>();
    var observed = Observe("embeddings", embeddingModel);
    using (observed.Enter())
    {
        var vectors = await embeddings.GenerateAsync(["one retry layer", "for every call"]);
        Console.WriteLine($"embeddings after {observed.Attempts} attempt(s): {vectors.Count} vector(s) of {vectors[0].Vector.Length}");
    }
}

if (responsesModel is not null)
{
    var responses = host.Services.GetRequiredKeyedService<IChatClient>("responses");
    var observed = Observe("responses", responsesModel);
    var streamed = new System.Text.StringBuilder();
    using (observed.Enter())
    {
        await foreach (var update in responses.GetStreamingResponseAsync(prompt))
        {
            streamed.Append(update.Text);
        }
    }

    Console.WriteLine($"responses stream after {observed.Attempts} attempt(s): {streamed.Length} characters");
}
