using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>Waits for the child <paramref name="pid"/> to end and reaps it; returns its pid, or -1.</summary>
    [LibraryImport(Libc, SetLastError = true)]
    internal static unsafe partial int waitpid(int pid, int* status, int options);
}
