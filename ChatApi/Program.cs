using AspireRetry.ChatApi;
using AspireRetry.ChatApi.Chat;
using AspireRetry.ChatApi.OpenAI;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddOpenAIChat();
builder.Services.AddAttemptTelemetry();
builder.Services.AddSingleton<ChatService>();
builder.Services.AddProblemDetails();

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();
app.MapDefaultEndpoints();
app.MapChatApi();

app.Run();
