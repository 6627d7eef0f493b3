using System.Runtime.InteropServices;

namespace AspireRetry.Bench.Reporting;

/// <summary>What the numbers were taken on, for the report.</summary>
public sealed record MachineInfo(string Os, string Cpu, int LogicalCores, double MemoryGiB, string Runtime)
{
    public static MachineInfo Collect() => new(
        RuntimeInformation.OSDescription,
        CpuModel(),
        Environment.ProcessorCount,
        GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024),
        RuntimeInformation.FrameworkDescription);

    private static string CpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
            {
                var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
                if (line?.Split(':', 2) is [_, var model])
                {
                    return model.Trim();
                }
            }
        }
        catch (IOException)
        {
            // Not Linux, or not readable: the architecture alone will do.
        }

        return RuntimeInformation.ProcessArchitecture.ToString();
    }
}
