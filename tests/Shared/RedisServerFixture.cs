using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace AspireRetry.Tests.Shared;

/// <summary>
/// A real redis-server on a free loopback port, as the AppHost runs it for replicas (no persistence, loopback only).
/// .ci/run installs redis-server; a machine without it fails here with a message saying so.
/// </summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    // redis-server is ready in milliseconds; this only bounds a machine so loaded that something is wrong.
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    private Process? _server;

    /// <summary>The connection string StackExchange.Redis reads, in the AppHost's form: <c>host:port</c>.</summary>
    public string ConnectionString { get; private set; } = "";

    /// <summary>A fixed port (a test that restarts Redis where the replicas knew it); a free one when not set.</summary>
    public int? Port { get; init; }

    public async ValueTask InitializeAsync()
    {
        var port = Port ?? FreeLoopbackPort();
        var start = new ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        try
        {
            _server = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start.");
        }
        catch (System.ComponentModel.Win32Exception error)
        {
            throw new InvalidOperationException("redis-server is not on the PATH (apt-get install redis-server; .ci/run installs it).", error);
        }

        _server.ErrorDataReceived += (_, _) => { };
        _server.BeginErrorReadLine();

        // Its own word that it listens, rather than polling the port.
        using var timeout = new CancellationTokenSource(StartTimeout);
        while (await _server.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.Contains("Ready to accept connections", StringComparison.Ordinal))
            {
                ConnectionString = $"127.0.0.1:{port}";
                // Keep draining, or a full pipe would block redis-server's logging.
                _ = _server.StandardOutput.ReadToEndAsync(CancellationToken.None);
                return;
            }
        }

        throw new InvalidOperationException($"redis-server exited before it was ready (exit code {_server.ExitCode}); the port {port} may have been taken.");
    }

    /// <summary>A port nothing listens on now; the OS hands out each ephemeral port in turn, so it stays free for a while.</summary>
    public static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is { HasExited: false })
        {
            _server.Kill();
            await _server.WaitForExitAsync();
        }

        _server?.Dispose();
    }
}
