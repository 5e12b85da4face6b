using System.Diagnostics;

namespace Pmalloc.Cli;

/// <summary>How a child <c>pmalloc</c> ended.</summary>
/// <param name="ExitCode">The exit status (134 for the runtime's fail-fast abort, 139 for a plain SIGSEGV).</param>
/// <param name="StandardOutput">Everything it printed on stdout.</param>
/// <param name="StandardError">Everything it printed on stderr (the runtime's fatal error report goes here).</param>
internal sealed record ChildResult(int ExitCode, string StandardOutput, string StandardError)
{
    /// <summary>True when the child died of the runtime's fail-fast <see cref="AccessViolationException"/>.</summary>
    internal bool DiedOfAccessViolation => ExitCode == 134 && StandardError.Contains("AccessViolationException", StringComparison.Ordinal);

    /// <summary>The runtime's one-line account of the fault, if any.</summary>
    internal string FaultLine => StandardError.Split('\n').FirstOrDefault(l => l.Contains("AccessViolationException", StringComparison.Ordinal))?.Trim() ?? "";
}

/// <summary>Runs this same <c>pmalloc</c> program again as a child process.</summary>
internal static class ChildProcess
{
    /// <summary>Runs <c>pmalloc ARGS</c> as a child, waits at most <paramref name="timeout"/>, and returns how it ended.</summary>
    internal static ChildResult RunSelf(IEnumerable<string> args, TimeSpan timeout, string? standardInput = null)
    {
        using Process child = StartSelf(args);
        Task<string> stdout = child.StandardOutput.ReadToEndAsync();
        Task<string> stderr = child.StandardError.ReadToEndAsync();
        if (standardInput is not null)
        {
            child.StandardInput.Write(standardInput);
        }

        child.StandardInput.Close();
        if (!child.WaitForExit(timeout))
        {
            child.Kill(entireProcessTree: true);
            child.WaitForExit();
        }

        return new ChildResult(child.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Starts <c>pmalloc ARGS</c> as a child with its standard streams redirected, and returns at once.</summary>
    internal static Process StartSelf(IEnumerable<string> args)
    {
        ProcessStartInfo info = new()
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };

        // Launched through the dotnet host with our own dll, so it works from "dotnet run", "dotnet test" and an installed tool alike.
        string dll = typeof(ChildProcess).Assembly.Location;
        info.FileName = Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";
        info.ArgumentList.Add(dll);
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // No crash dumps from children that are meant to die.
        info.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        return Process.Start(info) ?? throw new InvalidOperationException("cannot start a child pmalloc");
    }
}
