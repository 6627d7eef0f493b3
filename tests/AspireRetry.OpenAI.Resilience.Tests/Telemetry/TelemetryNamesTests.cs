using System.Reflection;

namespace AspireRetry.OpenAI.Resilience.Tests;

/// <summary>The names the layer tags telemetry with are documented where a consumer looks for them.</summary>
public sealed class TelemetryNamesTests
{
    [Fact]
    public void Every_name_in_RetryTelemetryConstants_is_in_the_librarys_README()
    {
        var readme = File.ReadAllText(Path.Combine(Repository.Root, "AspireRetry.OpenAI.Resilience", "README.md"));
        var names = new[] { typeof(RetryTelemetryConstants) }
            .Concat(typeof(RetryTelemetryConstants).GetNestedTypes())
            .SelectMany(type => type.GetFields(BindingFlags.Public | BindingFlags.Static))
            .Where(field => field.IsLiteral && field.FieldType == typeof(string))
            .Select(field => (string)field.GetRawConstantValue()!)
            .ToList();

        Assert.NotEmpty(names);
        Assert.All(names, name => Assert.Contains($"`{name}`", readme, StringComparison.Ordinal));
    }
}
