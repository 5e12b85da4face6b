namespace Pmalloc.Tests;

/// <summary>
/// Which OS a test can run on. The library runs on Linux and Windows (under Wine in CI); a test that looks at the
/// kernel's view of the process through Linux's <c>/proc</c>, or calls libc, says so with <see cref="RequireLinux"/> and
/// is reported as skipped on Windows, with the reason. Its Windows twin, where one is meaningful, uses
/// <c>VirtualQuery</c> instead (<see cref="WindowsMemoryInfo"/>) and calls <see cref="RequireWindows"/>.
/// </summary>
internal static class Platform
{
    /// <summary>Skips the test unless it runs on Linux.</summary>
    internal static void RequireLinux(string why)
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip($"Linux only: {why}");
        }
    }

    /// <summary>
    /// For a thread that spins in managed code while another one works: on Windows, yields once. Under Wine the runtime
    /// suspends threads for a GC through the wineserver, and a thread that never leaves managed code holds every GC (and
    /// so every thread that allocates) off for minutes; a yield is native code, where a GC need not wait for it.
    /// </summary>
    internal static void LetGcIn()
    {
        if (OperatingSystem.IsWindows())
        {
            Thread.Yield();
        }
    }

    /// <summary>Skips the test unless it runs on Windows.</summary>
    internal static void RequireWindows(string why)
    {
        if (!OperatingSystem.IsWindows())
        {
            Skip($"Windows only: {why}");
        }
    }

    /// <summary>
    /// Skips the test. A method of its own, never inlined: the JIT loads xunit's assert assembly only when a test skips, not
    /// when a helper that may skip is first compiled, which a child scenario does with no descriptor or mapping to spare
    /// (RLIMIT_NOFILE, vm.max_map_count).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void Skip(string reason) => Assert.Skip(reason);
}
