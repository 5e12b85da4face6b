namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>
    /// mseal(2) (Linux 6.10): forbids every later change to the mappings in [addr, addr+length): no
    /// mprotect, munmap, mremap, mmap(MAP_FIXED) over them, and no destructive madvise. For good: there
    /// is no unseal. The range must be page-aligned and fully mapped. glibc has no wrapper before 2.41.
    /// </summary>
    internal static int mseal(nint addr, nuint length) => (int)syscall(SyscallNumber.Mseal, addr, (nint)length, 0);
}
