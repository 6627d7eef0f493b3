using System.Net;
using System.Net.Http.Json;
using AspireRetry.WebFrontend.Services;

namespace AspireRetry.WebFrontend.Tests;

/// <summary>The page's models while ChatApi starts beside the frontend: asked again only while the connection is refused.</summary>
public sealed class ChatApiClientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_models_are_asked_again_while_ChatApi_does_not_listen_yet()
    {
        var chatApi = new Starting(refusals: 2, () => new HttpResponseMessage(HttpStatusCode.OK) { Content = JsonContent.Create(new ModelsReply(["gpt-4o"], "gpt-4o")) });

        var models = await chatApi.Client().GetModelsAsync(Ct);

        Assert.Equal("gpt-4o", models.DefaultModel);
        Assert.Equal(3, chatApi.Requests);
    }

    [Fact]
    public async Task An_answer_that_is_an_error_is_not_asked_again()
    {
        var chatApi = new Starting(refusals: 0, () => new HttpResponseMessage(HttpStatusCode.InternalServerError));

        await Assert.ThrowsAsync<HttpRequestException>(() => chatApi.Client().GetModelsAsync(Ct));
        Assert.Equal(1, chatApi.Requests);
    }

    /// <summary>Refuses the connection <c>refusals</c> times, as a ChatApi that has not started listening, then answers.</summary>
    private sealed class Starting(int refusals, Func<HttpResponseMessage> answer) : HttpMessageHandler
    {
        public int Requests { get; private set; }

        public ChatApiClient Client() => new(new HttpClient(this) { BaseAddress = new Uri("http://chatapi") });

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            ++Requests <= refusals
                ? Task.FromException<HttpResponseMessage>(new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused (chatapi:80)"))
                : Task.FromResult(answer());
    }
}
