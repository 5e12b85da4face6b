using System.Diagnostics;
using System.Reflection;

namespace Pmalloc.Cli;

/// <summary>How a child <c>pmalloc</c> ended.</summary>
/// <param name="ExitCode">The exit status (134 for the runtime's fail-fast abort, 139 for a plain SIGSEGV; on Windows an NTSTATUS).</param>
/// <param name="StandardOutput">Everything it printed on stdout.</param>
/// <param name="StandardError">Everything it printed on stderr (the runtime's fatal error report goes here).</param>
internal sealed record ChildResult(int ExitCode, string StandardOutput, string StandardError)
{
    /// <summary>
    /// True when the child died of the runtime's fail-fast access violation: exit status 134 (SIGABRT; on Windows the
    /// fail-fast's NTSTATUS, <see cref="WindowsFailFastStatuses"/>) and the runtime's report on stderr,
    /// <c>System.AccessViolationException: Attempted to read or write protected memory</c> from the JIT runtime,
    /// <c>Process terminated. Access Violation: Attempted to read or write protected memory</c> from NativeAOT.
    /// </summary>
    internal bool DiedOfAccessViolation =>
        (OperatingSystem.IsWindows() ? WindowsFailFastStatuses.Contains(ExitCode) : ExitCode == 134) && FaultLine.Length > 0;

    /// <summary>
    /// How a .NET process that dies of an AccessViolationException ends on Windows: <c>STATUS_FAIL_FAST_EXCEPTION</c>
    /// (0xC0000602), which Wine 8 reports (the CI run); <c>STATUS_STACK_BUFFER_OVERRUN</c> (0xC0000409) and
    /// <c>STATUS_ACCESS_VIOLATION</c> (0xC0000005), which Windows itself may report.
    /// </summary>
    internal static readonly int[] WindowsFailFastStatuses = [unchecked((int)0xC0000602), unchecked((int)0xC0000409), unchecked((int)0xC0000005)];

    /// <summary>The exit status as the platform writes it: decimal on Linux, an NTSTATUS in hex on Windows.</summary>
    internal string Status => OperatingSystem.IsWindows() && ExitCode < 0 ? $"0x{ExitCode:X8}" : ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The runtime's one-line account of the fault, if any.</summary>
    internal string FaultLine => StandardError.Split('\n').FirstOrDefault(IsFaultReport)?.Trim() ?? "";

    private static bool IsFaultReport(string line) =>
        line.Contains("AccessViolationException", StringComparison.Ordinal) || line.Contains("Access Violation: Attempted to read or write protected memory", StringComparison.Ordinal);
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
        ProcessStartInfo info = StartInfo(args);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;

        // No crash dumps from children that are meant to die.
        info.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        return Process.Start(info) ?? throw new InvalidOperationException("cannot start a child pmalloc");
    }

    /// <summary>
    /// How to start this program again with <paramref name="args"/>: through <see cref="Environment.ProcessPath"/> when
    /// that is this program's own executable (its apphost, the tool's shim, a self-contained or native build, which may
    /// run where no .NET is installed); else, when the process is the <c>dotnet</c> host (<c>dotnet Pmalloc.Cli.dll</c>)
    /// or a test runner that loaded this assembly, as <c>dotnet exec</c> of the dll beside this assembly.
    /// </summary>
    internal static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        ProcessStartInfo info = new() { UseShellExecute = false };
        string? process = Environment.ProcessPath;
        bool dotnetHost = process is not null && Path.GetFileNameWithoutExtension(process) == "dotnet";
        if (process is not null && !dotnetHost && Assembly.GetEntryAssembly() == typeof(ChildProcess).Assembly)
        {
            info.FileName = process;
        }
        else
        {
            info.FileName = dotnetHost ? process! : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
            info.ArgumentList.Add("exec");
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, DllName));
        }

        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return info;
    }

    /// <summary>This program's file, named after its assembly (the csproj's <c>AssemblyName</c>).</summary>
    private const string DllName = "Pmalloc.Cli.dll";
}
