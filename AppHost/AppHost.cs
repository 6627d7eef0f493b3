using Microsoft.Extensions.Configuration;

var builder = DistributedApplication.CreateBuilder(args);

// The upstream: the user's own (ConnectionStrings:openai in user secrets or the environment), else the
// OpenAI emulator, which needs no key and can be told to misbehave.
IResourceBuilder<ProjectResource>? emulator = null;
var openai = builder.Configuration.GetConnectionString("openai") is { Length: > 0 }
    ? builder.AddConnectionString("openai")
    : builder.AddOpenAIEmulator("openai-emulator", connectionName: "openai", out emulator);

var chatapi = builder.AddProject<Projects.ChatApi>("chatapi")
    .WithReference(openai)
    .WaitFor(openai)
    .WithHttpHealthCheck("/health");

var webfrontend = builder.AddProject<Projects.WebFrontend>("webfrontend")
    .WithReference(chatapi)
    .WaitFor(chatapi)
    .WithDashboardLink()
    .WithHttpHealthCheck("/health")
    .WithExternalHttpEndpoints()
    .WithUrlForEndpoint("http", url => url.DisplayText = "Chat");

if (emulator is not null)
{
    // The chat page's chaos panel drives the emulator's operator API; with a real endpoint it has none.
    webfrontend.WithReference(emulator);
}

// Every service here listens on plain HTTP (no https URL in their launch profiles), yet Aspire gives each
// project a development-certificate hook, and with no trusted certificate on the machine the dashboard
// opens with a red "No trusted development certificate" banner about a certificate nothing uses.
#pragma warning disable ASPIRECERTIFICATES001 // experimental in Aspire 13: the supported way to say "this resource serves no TLS"
foreach (var project in builder.Resources.OfType<ProjectResource>().ToList())
{
    builder.CreateResourceBuilder(project).WithoutHttpsCertificate();
}
#pragma warning restore ASPIRECERTIFICATES001

builder.Build().Run();
