using System.Data.Common;

namespace AspireRetry.OpenAI.Resilience;

/// <summary>
/// The upstream, from a connection string (by default <c>openai</c>): <c>Endpoint=&lt;base url ending in /v1&gt;;Key=&lt;key&gt;</c>,
/// optionally <c>;Models=gpt-4o,gpt-4o-mini</c> when this upstream serves only some models, and <c>;Model=gpt-4o</c>
/// (or <c>;Deployment=</c>, as Aspire's Azure hosting writes it) for the model a client registered without one uses.
/// Any OpenAI-compatible endpoint works; a missing or malformed string is a start-up error that names it.
/// </summary>
/// <param name="Endpoint">The base URL, ending in <c>/v1</c>.</param>
/// <param name="Key">The API key, sent as a bearer token (Azure: an <c>api-key</c> header); never printed. Empty for Azure with Entra ID.</param>
public sealed record OpenAIConnection(Uri Endpoint, string Key)
{
    /// <summary>The default connection string name (<c>ConnectionStrings:openai</c>).</summary>
    public const string Name = "openai";
    private const string Example = "Endpoint=https://api.openai.com/v1;Key=sk-...";

    /// <summary>The models this upstream serves (<c>Models=</c>); null: every model.</summary>
    public IReadOnlyList<string>? Models { get; init; }

    /// <summary>The model (<c>Model=</c>, or <c>Deployment=</c>) that a chat client or embedding generator registered without one uses.</summary>
    public string? DefaultModel { get; init; }

    /// <summary>
    /// Azure OpenAI (<c>IsAzure=true</c>, or a host with <c>.azure.</c> in it): called on its v1 API
    /// (<c>{Endpoint}/openai/v1/</c>), the deployment as the model, with the key in an <c>api-key</c> header, or with no
    /// key an Entra ID token (a <c>TokenCredential</c> from DI, else <c>DefaultAzureCredential</c>) fetched for each attempt.
    /// </summary>
    public bool IsAzure { get; init; }

    /// <summary>Azure OpenAI with no key: each attempt carries an Entra ID token.</summary>
    public bool UsesEntraId => IsAzure && Key.Length == 0;

    /// <summary>Where the SDK sends its calls: the endpoint, or Azure's v1 API under it.</summary>
    public Uri ApiEndpoint => !IsAzure || Endpoint.AbsolutePath.TrimEnd('/').EndsWith("/openai/v1", StringComparison.OrdinalIgnoreCase)
        ? Endpoint
        : new Uri(Endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/openai/v1/");

    /// <summary>Whether this upstream serves <paramref name="model"/>: every model unless <see cref="Models"/> lists some.</summary>
    /// <param name="model">The model name.</param>
    public bool Serves(string model) => Models is null || Models.Contains(model, StringComparer.Ordinal);

    /// <summary>Never prints the key.</summary>
    public override string ToString() => Models is null ? $"Endpoint={Endpoint}" : $"Endpoint={Endpoint};Models={string.Join(',', Models)}";

    /// <summary>Reads a connection string; throws with a message that names the setting (never quoting the key) when it is missing or malformed.</summary>
    /// <param name="connectionString">The connection string's value.</param>
    /// <param name="name">The connection string's name, for the messages.</param>
    public static OpenAIConnection Parse(string? connectionString, string name = Name)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException(
                $"ConnectionStrings:{name} is missing. Set it to '{Example}' (the AppHost does this for you).");
        }

        var builder = new DbConnectionStringBuilder();
        try
        {
            builder.ConnectionString = connectionString;
        }
        catch (ArgumentException)
        {
            // The message of ArgumentException may quote the string, key included: say what is wrong instead.
            throw new InvalidOperationException(
                $"ConnectionStrings:{name} is not a valid connection string. Expected '{Example}'.");
        }

        var endpointText = builder.TryGetValue("Endpoint", out var e) ? e?.ToString() : null;
        if (string.IsNullOrWhiteSpace(endpointText)
            || !Uri.TryCreate(endpointText, UriKind.Absolute, out var endpoint)
            || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
        {
            throw new InvalidOperationException(
                $"ConnectionStrings:{name} needs Endpoint=<http(s) base url ending in /v1>, e.g. '{Example}'.");
        }

        var isAzureText = builder.TryGetValue("IsAzure", out var az) ? az?.ToString() : null;
        bool isAzure;
        if (isAzureText is null)
        {
            // As Aspire.Azure.AI.OpenAI decides: an Azure OpenAI host, unless the string says otherwise.
            isAzure = endpoint.Host.Contains(".azure.", StringComparison.OrdinalIgnoreCase);
        }
        else if (!bool.TryParse(isAzureText, out isAzure))
        {
            throw new InvalidOperationException($"ConnectionStrings:{name} has IsAzure={isAzureText}: it must be true or false.");
        }

        var key = builder.TryGetValue("Key", out var k) ? k?.ToString() : null;
        if (string.IsNullOrWhiteSpace(key) && !isAzure)
        {
            throw new InvalidOperationException(
                $"ConnectionStrings:{name} needs Key=<api key>, e.g. '{Example}' (only Azure OpenAI can go without one, with Entra ID).");
        }

        var modelsText = builder.TryGetValue("Models", out var m) ? m?.ToString() : null;
        if (modelsText is not null && ParseModels(modelsText) is not { Count: > 0 })
        {
            throw new InvalidOperationException(
                $"ConnectionStrings:{name} has Models= with no model in it: list the models this upstream serves (Models=gpt-4o,gpt-4o-mini), or leave Models out for every model.");
        }

        var model = builder.TryGetValue("Model", out var mo) ? mo?.ToString() : null;
        var deployment = builder.TryGetValue("Deployment", out var d) ? d?.ToString() : null;
        if (model is not null && deployment is not null)
        {
            throw new InvalidOperationException(
                $"ConnectionStrings:{name} has both Model= and Deployment=: they name the same thing (the model, or the Azure deployment that serves it); keep one.");
        }

        if ((model ?? deployment) is { } named && string.IsNullOrWhiteSpace(named))
        {
            throw new InvalidOperationException(
                $"ConnectionStrings:{name} has an empty {(model is not null ? "Model" : "Deployment")}=: name the model (Model=gpt-4o), or leave it out.");
        }

        return new OpenAIConnection(endpoint, key ?? "")
        {
            IsAzure = isAzure,
            Models = modelsText is null ? null : ParseModels(modelsText),
            DefaultModel = (model ?? deployment)?.Trim(),
        };
    }

    private static List<string> ParseModels(string text) =>
        [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct(StringComparer.Ordinal)];
}
