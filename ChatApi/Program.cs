using AspireRetry.ChatApi;
using AspireRetry.ChatApi.Chat;
using AspireRetry.ChatApi.OpenAI;
using AspireRetry.ChatApi.Protection;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddOpenAIChat();
builder.Services.AddAttemptTelemetry();
builder.Services.AddSingleton<ChatService>();
builder.Services.AddProblemDetails();
builder.Services.AddChatProtection();

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseRateLimiter();
app.MapDefaultEndpoints();
app.MapChatApi();

app.Run();
