using AspireRetry.ChatApi.OpenAI;

namespace AspireRetry.ChatApi.Protection;

/// <summary>Checks a chat request before any upstream call; each error names the field and why.</summary>
public static class ChatRequestValidator
{
    private static readonly string[] Roles = ["system", "user", "assistant"];

    public static Dictionary<string, string[]> Validate(ChatRequest? request, OpenAIOptions options, ChatLimitsOptions limits)
    {
        var errors = new Dictionary<string, string[]>();
        if (request is null)
        {
            errors["body"] = ["A JSON body { \"model\", \"messages\": [ { \"role\", \"content\" } ] } is required."];
            return errors;
        }

        if (request.Model is not null && !options.EffectiveModels.Contains(request.Model))
        {
            errors["model"] = [$"Unknown model '{request.Model}'. Allowed: {string.Join(", ", options.EffectiveModels)}."];
        }

        if (request.Messages is null || request.Messages.Count == 0)
        {
            errors["messages"] = ["At least one message is required."];
            return errors;
        }

        const string p = ChatLimitsOptions.SectionName;
        if (request.Messages.Count > limits.MaxMessages)
        {
            errors["messages"] = [$"At most {limits.MaxMessages} messages are allowed ({p}:MaxMessages; got {request.Messages.Count})."];
            return errors;
        }

        var total = request.Messages.Sum(m => (long)(m?.Content?.Length ?? 0));
        if (total > limits.MaxConversationLength)
        {
            errors["messages"] = [$"The conversation must be at most {limits.MaxConversationLength} characters in all ({p}:MaxConversationLength; got {total})."];
        }

        for (var i = 0; i < request.Messages.Count && errors.Count < 10; i++)
        {
            var message = request.Messages[i];
            if (message is null)
            {
                errors[$"messages[{i}]"] = ["A message must be an object with role and content."];
                continue;
            }

            if (message.Role is null || !Roles.Contains(message.Role))
            {
                errors[$"messages[{i}].role"] = [$"Role must be one of {string.Join(", ", Roles)} (got '{message.Role}')."];
            }

            if (string.IsNullOrWhiteSpace(message.Content))
            {
                errors[$"messages[{i}].content"] = ["Content must not be empty."];
            }
            else if (message.Content.Length > limits.MaxMessageLength)
            {
                errors[$"messages[{i}].content"] = [$"Content must be at most {limits.MaxMessageLength} characters ({p}:MaxMessageLength; got {message.Content.Length})."];
            }
        }

        if (request.Messages[^1] is { Role: not "user" })
        {
            errors.TryAdd("messages", ["The last message must be from the user."]);
        }

        return errors;
    }
}
