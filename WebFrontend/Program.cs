using AspireRetry.WebFrontend.Components;
using AspireRetry.WebFrontend.Services;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.Services.AddRazorComponents().AddInteractiveServerComponents();
builder.Services.AddHttpClient<ChatApiClient>(client =>
{
    client.BaseAddress = new Uri("https+http://chatapi");

    // ChatApi owns the time budget of a chat call and answers with an error event when it runs out;
    // HttpClient's own 100 s would cut a slow reply mid-stream. Stop cancels the request.
    client.Timeout = Timeout.InfiniteTimeSpan;
});
// The emulator's operator API for the chaos panel: present only when the AppHost referenced the emulator.
builder.Services.AddHttpClient<EmulatorChaosClient>(client => client.BaseAddress = new Uri($"https+http://{EmulatorChaosClient.ServiceName}"));
foreach (var name in EmulatorChaosClient.OtherNames(builder.Configuration))
{
    // With AppHost:Upstreams > 1: the panel's scenarios reach every emulator, the "Primary ..." ones calm the others.
    builder.Services.AddHttpClient(name, client => client.BaseAddress = new Uri($"https+http://{name}"));
}
builder.Services.Configure<DashboardOptions>(builder.Configuration.GetSection(DashboardOptions.SectionName));

var app = builder.Build();

if (!app.Environment.IsDevelopment())
{
    app.UseExceptionHandler("/Error", createScopeForErrors: true);
}

app.UseAntiforgery();
app.MapStaticAssets();
app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
app.MapDefaultEndpoints();

app.Run();
