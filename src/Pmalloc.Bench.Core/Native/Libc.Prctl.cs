using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    /// <summary>prctl option: who may ptrace this process under Yama's ptrace_scope 1 (linux/prctl.h).</summary>
    public const int PrSetPtracer = 0x59616d61;

    /// <summary>PR_SET_PTRACER's argument that lets any process of ours attach.</summary>
    public static readonly nuint PrSetPtracerAny = nuint.MaxValue;

    // prctl is variadic; on x86-64 and arm64 Linux the unsigned long arguments land where the callee reads them.
    [LibraryImport(Library, SetLastError = true)]
    public static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);
}
