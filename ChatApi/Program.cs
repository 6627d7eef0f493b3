using AspireRetry.ChatApi;
using AspireRetry.ChatApi.Chat;
using AspireRetry.ChatApi.Protection;
using AspireRetry.ChatApi.SharedState;
using AspireRetry.OpenAI.Resilience;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
var openai = builder.AddResilientOpenAI();
builder.AddSharedState();
builder.AddChat(openai);
builder.Services.AddProblemDetails();
builder.Services.AddChatProtection();

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseRateLimiter();
app.MapDefaultEndpoints();
app.MapChatApi();

app.Run();
