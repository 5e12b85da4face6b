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
            Assert.Skip($"Linux only: {why}");
        }
    }

    /// <summary>Skips the test unless it runs on Windows.</summary>
    internal static void RequireWindows(string why)
    {
        if (!OperatingSystem.IsWindows())
        {
            Assert.Skip($"Windows only: {why}");
        }
    }
}
