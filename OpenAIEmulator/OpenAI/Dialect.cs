namespace AspireRetry.OpenAIEmulator.OpenAI;

/// <summary>Which API a request spoke: where it was sent decides how it is authenticated and how errors are worded.</summary>
public enum Dialect
{
    /// <summary>OpenAI's <c>/v1/...</c>, authenticated by <c>Authorization: Bearer</c>.</summary>
    OpenAI,

    /// <summary>Azure OpenAI's <c>/openai/deployments/{deployment}/...?api-version=</c>: the deployment is the model.</summary>
    AzureDeployment,

    /// <summary>Azure OpenAI's v1 API, <c>/openai/v1/...</c>: OpenAI's bodies, Azure's authentication and errors.</summary>
    AzureV1,
}

public static class DialectExtensions
{
    /// <summary>The name in the request log.</summary>
    public static string ToName(this Dialect dialect) => dialect switch
    {
        Dialect.OpenAI => "openai",
        Dialect.AzureDeployment => "azure-deployment",
        Dialect.AzureV1 => "azure-v1",
        _ => throw new ArgumentOutOfRangeException(nameof(dialect), dialect, null),
    };

    public static bool IsAzure(this Dialect dialect) => dialect != Dialect.OpenAI;
}
