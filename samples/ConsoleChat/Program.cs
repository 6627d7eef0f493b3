// A console app that uses the retry layer from its NuGet package, as any app would: the few lines of
// "Use it in your own app". Set ConnectionStrings__openai="Endpoint=<base url ending in /v1>;Key=<key>".
using System.Globalization;
using AspireRetry.OpenAI.Resilience;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

var builder = Host.CreateApplicationBuilder(args);
builder.AddResilientOpenAI();
using var host = builder.Build();

var model = builder.Configuration["Model"] ?? "gpt-4o";
var prompt = builder.Configuration["Prompt"] ?? "Say hello.";
var chat = host.Services.GetRequiredService<ResilientChatClients>().Get(model);

// Each attempt as it happens; the lines are what the packed-package test reads.
var progress = new CallProgress(model, attempt => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"attempt {attempt.Number}: {attempt.Outcome}{(attempt.Delay is { } delay ? $", next in {delay.TotalMilliseconds:0} ms" : "")}")));
using (progress.Enter())
{
    var reply = await chat.GetResponseAsync(prompt);
    progress.Complete();
    Console.WriteLine($"reply after {progress.Attempts} attempt(s): {reply.Text}");
}
