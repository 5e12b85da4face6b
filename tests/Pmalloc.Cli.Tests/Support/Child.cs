using Pmalloc.Cli;

namespace Pmalloc.Cli.Tests;

/// <summary>Runs the <c>pmalloc</c> program as a child process: the only way to watch a protected write kill a process.</summary>
internal static class Child
{
    /// <summary>Runs <c>pmalloc attack NAME</c> and returns how the child ended.</summary>
    internal static ChildResult Attack(string name) => Pmalloc(["attack", name]);

    /// <summary>
    /// Runs <c>pmalloc ARGS</c>. The timeout only catches a hang: <c>bench --quick</c> alone takes over a minute on a
    /// busy 2-core machine.
    /// </summary>
    internal static ChildResult Pmalloc(IEnumerable<string> args, string? standardInput = null) =>
        ChildProcess.RunSelf(args, TimeSpan.FromMinutes(10), standardInput);

    /// <summary>Asserts that the child reached the forbidden step and then died of the runtime's AccessViolationException (exit 134).</summary>
    internal static void AssertDiedOfAccessViolation(ChildResult result)
    {
        Assert.True(result.StandardOutput.Contains(Attacks.ReadyMarker, StringComparison.Ordinal),
            $"the child died before the attack: exit {result.ExitCode}\n{result.StandardOutput}\n{result.StandardError}");
        Assert.DoesNotContain(Attacks.SurvivedMarker, result.StandardOutput, StringComparison.Ordinal);
        Assert.True(result.DiedOfAccessViolation, $"expected exit 134 with AccessViolationException, got exit {result.ExitCode}\n{result.StandardError}");
    }
}
