using System.Runtime.InteropServices;

namespace Pmalloc.Cli.Tests;

/// <summary>Sends a signal as <c>kill PID</c> does (<see cref="System.Diagnostics.Process.Kill()"/> sends SIGKILL, which cannot be handled).</summary>
internal static partial class Signals
{
    private const int SIGTERM = 15;

    /// <summary>Sends SIGTERM to <paramref name="pid"/>; true if it was delivered.</summary>
    internal static bool Terminate(int pid) => Kill(pid, SIGTERM) == 0;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
