namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>O_CLOEXEC, the only flag memfd_secret accepts (asm-generic/fcntl.h).</summary>
    internal const int OCloseOnExec = 0x80000;

    /// <summary>
    /// memfd_secret(2) (Linux 5.14): an anonymous file whose pages are removed from the kernel's direct
    /// map, so only the process's own page tables reach them. Fails with ENOSYS where the kernel was built
    /// without it or booted without <c>secretmem.enable</c>. glibc has no wrapper.
    /// </summary>
    internal static SafeFdHandle memfd_secret(int flags) => new((int)syscall(SyscallNumber.MemfdSecret, flags, 0, 0));
}
