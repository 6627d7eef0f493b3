using Microsoft.Extensions.AI;

namespace AspireRetry.ChatApi.Chat;

/// <summary>
/// The chat client of each model a user may pick (and of the fallback model), as the app registered them: keyed by the
/// model, each the retry library's <c>AddKeyedChatClient</c> (<see cref="ChatExtensions.AddChat"/>).
/// </summary>
internal sealed class ChatModels(IServiceProvider services)
{
    public IChatClient For(string model) => services.GetRequiredKeyedService<IChatClient>(model);
}
