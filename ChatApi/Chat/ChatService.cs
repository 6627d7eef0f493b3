using System.Net.ServerSentEvents;
using AspireRetry.OpenAI.Resilience;
using Microsoft.Extensions.Options;

namespace AspireRetry.ChatApi.Chat;

/// <summary>
/// One conversation turn against the upstream: the whole reply, or the reply as a stream of events
/// (<see cref="ChatStream"/>), with every attempt reported. Retries are not here: they live in the "openai"
/// HttpClient's pipeline; this class only listens.
/// </summary>
internal sealed class ChatService(ChatModels clients, IOptions<ModelOptions> models, ModelFallback fallback, ChatMetrics metrics, ChatStream stream)
{
    private string ResolveModel(ChatRequest request) => request.Model ?? models.Value.DefaultModel;

    /// <summary>The whole reply, on the fallback model if the model's attempts ran out (<see cref="ModelFallback"/>); or why there is none.</summary>
    public async Task<(ChatReply? Reply, ChatFailure? Failure, int Attempts)> CompleteAsync(ChatRequest request, CancellationToken cancellationToken)
    {
        var progress = new CallProgress(ResolveModel(request));
        using var scope = progress.Enter();
        while (true)
        {
            try
            {
                var response = await clients.For(progress.Model).GetResponseAsync(request.ToMessages(), cancellationToken: cancellationToken);
                progress.Complete();
                metrics.CallEnded(progress, ChatMetrics.Answered);
                return (new ChatReply(response.Text, response.ModelId ?? progress.Model, progress.Attempts, ChatContract.TraceId(), response.Usage.ToDto(), progress.Upstream), null, progress.Attempts);
            }
            catch (Exception ex) when (ChatFailure.From(ex, progress) is { } failure)
            {
                progress.Complete();
                if (!fallback.TryFallBack(progress, failure, "call"))
                {
                    return (null, failure, progress.Attempts);
                }
            }
        }
    }

    public IAsyncEnumerable<SseItem<object>> StreamAsync(ChatRequest request, CancellationToken cancellationToken) =>
        stream.StreamAsync(request, ResolveModel(request), cancellationToken);
}
