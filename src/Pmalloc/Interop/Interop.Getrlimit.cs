using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>Resource numbers (asm-generic/resource.h).</summary>
    internal enum Resource
    {
        FileSize = 1,
        NoFile = 7,
        MemLock = 8,
    }

    /// <summary>struct rlimit: soft and hard limit; ulong.MaxValue is RLIM_INFINITY.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int getrlimit(Resource resource, out RLimit limit);
}
