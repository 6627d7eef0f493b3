using Microsoft.Extensions.Configuration;

var builder = DistributedApplication.CreateBuilder(args);

// The upstream: the user's own (ConnectionStrings:openai in user secrets or the environment), else the
// OpenAI emulator, which needs no key and can be told to misbehave.
var openai = builder.Configuration.GetConnectionString("openai") is { Length: > 0 }
    ? builder.AddConnectionString("openai")
    : builder.AddOpenAIEmulator("openai-emulator", connectionName: "openai");

var chatapi = builder.AddProject<Projects.ChatApi>("chatapi")
    .WithReference(openai)
    .WaitFor(openai)
    .WithHttpHealthCheck("/health");

builder.AddProject<Projects.WebFrontend>("webfrontend")
    .WithReference(chatapi)
    .WaitFor(chatapi)
    .WithDashboardLink()
    .WithHttpHealthCheck("/health")
    .WithExternalHttpEndpoints()
    .WithUrlForEndpoint("http", url => url.DisplayText = "Chat");

builder.Build().Run();
