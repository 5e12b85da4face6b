using System.Diagnostics;

namespace Pmalloc.Tests;

/// <summary>How a child scenario ended.</summary>
/// <param name="ExitCode">
/// The exit status: 134 for the runtime's fail-fast abort on Linux; on Windows the fail-fast's NTSTATUS (see
/// <see cref="WindowsFailFastStatuses"/>).
/// </param>
/// <param name="StandardOutput">Everything it printed on stdout.</param>
/// <param name="StandardError">Everything it printed on stderr (the runtime's fatal error report goes here).</param>
internal sealed record ChildResult(int ExitCode, string StandardOutput, string StandardError)
{
    /// <summary>True when the child died of the runtime's fail-fast <see cref="AccessViolationException"/>.</summary>
    internal bool DiedOfAccessViolation =>
        (OperatingSystem.IsWindows() ? WindowsFailFastStatuses.Contains(ExitCode) : ExitCode == 134) &&
        StandardError.Contains("AccessViolationException", StringComparison.Ordinal);

    /// <summary>
    /// How a .NET process that dies of an AccessViolationException ends on Windows: <c>STATUS_FAIL_FAST_EXCEPTION</c>
    /// (0xC0000602), which is what Wine 8 reports and what the tests see in CI; <c>STATUS_STACK_BUFFER_OVERRUN</c>
    /// (0xC0000409, <c>__fastfail</c>) and <c>STATUS_ACCESS_VIOLATION</c> (0xC0000005) are what Windows itself may report.
    /// The runtime's "AccessViolationException" on stderr is required as well.
    /// </summary>
    internal static readonly int[] WindowsFailFastStatuses = [unchecked((int)0xC0000602), unchecked((int)0xC0000409), unchecked((int)0xC0000005)];

    /// <summary>Everything about the child, for a failure message.</summary>
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{StandardOutput}\n--- stderr\n{StandardError}";
}

/// <summary>
/// Runs a scenario of <see cref="ChildScenarios"/> in a child process: the only way to watch a protected write kill
/// a process. The child is this test executable again (<c>Pmalloc.Tests --child NAME</c>): its apphost next to the
/// assembly, as in a build or a self-contained publish, or <c>dotnet exec Pmalloc.Tests.dll</c> where there is none.
/// </summary>
internal static class Child
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <summary>Starts scenario <paramref name="scenario"/> in a child, its stdin, stdout and stderr redirected, and returns it running.</summary>
    internal static Process Start(string scenario)
    {
        ProcessStartInfo info = StartInfo();
        info.ArgumentList.Add(ChildScenarios.Flag);
        info.ArgumentList.Add(scenario);
        return Process.Start(info) ?? throw new InvalidOperationException($"cannot start {info.FileName}");
    }

    /// <summary>Runs scenario <paramref name="scenario"/> in a child and returns how it ended.</summary>
    internal static ChildResult Run(string scenario) => Run(scenario, Timeout);

    /// <summary>Runs scenario <paramref name="scenario"/> in a child, allowing it <paramref name="timeout"/>, and returns how it ended.</summary>
    internal static ChildResult Run(string scenario, TimeSpan timeout)
    {
        using Process child = Start(scenario);
        Task<string> stdout = child.StandardOutput.ReadToEndAsync();
        Task<string> stderr = child.StandardError.ReadToEndAsync();
        child.StandardInput.Close();
        if (!child.WaitForExit(timeout))
        {
            child.Kill(entireProcessTree: true);
            child.WaitForExit();
            Assert.Fail($"child scenario '{scenario}' still ran after {timeout}: {new ChildResult(child.ExitCode, stdout.Result, stderr.Result)}");
        }

        return new ChildResult(child.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Asserts that the child reached the forbidden step and then died of the runtime's AccessViolationException (exit 134).</summary>
    internal static void AssertDiedOfAccessViolation(ChildResult result)
    {
        Assert.True(result.StandardOutput.Contains(ChildScenarios.ReadyMarker, StringComparison.Ordinal), $"the child died before the forbidden step: {result}");
        Assert.DoesNotContain(ChildScenarios.SurvivedMarker, result.StandardOutput, StringComparison.Ordinal);
        Assert.True(result.DiedOfAccessViolation, $"expected exit 134 with AccessViolationException: {result}");
    }

    /// <summary>Runs <paramref name="scenario"/> and asserts it died of an access violation at its forbidden step.</summary>
    internal static void AssertFaults(string scenario) => AssertDiedOfAccessViolation(Run(scenario));

    private static ProcessStartInfo StartInfo()
    {
        ProcessStartInfo info = new()
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };

        string name = typeof(Child).Assembly.GetName().Name!;
        string apphost = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? name + ".exe" : name);
        if (File.Exists(apphost))
        {
            info.FileName = apphost;
        }
        else
        {
            // No apphost (UseAppHost=false, or a copied dll): the muxer that runs us, the one msbuild names, or the one on PATH.
            info.FileName = Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet"
                ? host
                : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
            info.ArgumentList.Add("exec");
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, name + ".dll"));
        }

        // No crash dumps from children that are meant to die.
        info.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        info.Environment["DOTNET_EnableCrashReport"] = "0";
        return info;
    }
}
