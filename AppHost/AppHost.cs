using Microsoft.Extensions.Configuration;

var builder = DistributedApplication.CreateBuilder(args);

// Ctrl+C stops the services before the AppHost exits (within a few seconds), saying what it stops.
builder.WithQuickStop();

// The upstreams, in priority order: the user's own (ConnectionStrings:openai, openai-2, ... in user secrets or the
// environment), else AppHost:Upstreams OpenAI emulators (openai-emulator, openai-emulator-2, ...), which need no key
// and can be told to misbehave one at a time.
var (upstreams, emulators) = builder.AddOpenAIUpstreams();

var chatapi = builder.AddProject<Projects.ChatApi>("chatapi")
    .WithUpstreams(upstreams)
    .WithHttpHealthCheck("/health")
    // ChatApi:Replicas (1 by default); above 1, the replicas share rate limits, retry budget and breaker through Redis.
    .WithSharedStateReplicas();

var webfrontend = builder.AddProject<Projects.WebFrontend>("webfrontend")
    .WithReference(chatapi)
    // Started beside ChatApi rather than once it answers (about 1.3 s sooner on 2 cores): the page's models wait for it.
    .WaitForStart(chatapi)
    .WithDashboardLink()
    .WithHttpHealthCheck("/health")
    .WithExternalHttpEndpoints()
    .WithUrlForEndpoint("http", url => url.DisplayText = "Chat");

// The chat page's chaos panel drives the emulators' operator API; with real endpoints it has none.
foreach (var emulator in emulators)
{
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
