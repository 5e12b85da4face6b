using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    /// <summary>Resource numbers (asm-generic/resource.h).</summary>
    public enum Resource
    {
        MemLock = 8,
    }

    /// <summary>struct rlimit: the soft and the hard limit.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport(Library, SetLastError = true)]
    public static partial int setrlimit(Resource resource, in RLimit limit);
}
