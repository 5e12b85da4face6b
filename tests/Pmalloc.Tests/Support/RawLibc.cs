using System.Runtime.InteropServices;

namespace Pmalloc.Tests;

/// <summary>
/// libc calls on raw descriptor numbers, as an attacker in the process would make them (the library's own bindings take
/// a <see cref="SafeFdHandle"/>), and the calls the library itself never makes (mremap).
/// </summary>
internal static unsafe partial class RawLibc
{
    /// <summary>The memfd seals a sealed write-once pool carries: no write or writable mapping, no resize, no seal change.</summary>
    internal const int FinalSeals = (int)(Interop.Seals.FutureWrite | Interop.Seals.Grow | Interop.Seals.Shrink | Interop.Seals.Seal);

    /// <summary>The seals of a sealed write-rare pool before MakeReadOnly, and of a sealed object cache: against shrinking only (growth changes no mapped byte).</summary>
    internal const int SizeSeals = (int)Interop.Seals.Shrink;

    /// <summary>MREMAP_MAYMOVE.</summary>
    internal const int MremapMayMove = 1;

    /// <summary>The descriptor number behind a chunk's backing, or -1 once the library closed it.</summary>
    internal static int RawFd(this ChunkMapping mapping)
    {
        Platform.RequireLinux("a chunk's backing is a file descriptor on Linux only");
        return mapping.Backing.IsClosed ? -1 : (int)mapping.Backing.DangerousGetHandle();
    }

    [LibraryImport("libc", SetLastError = true)]
    internal static partial nint mremap(nint oldAddress, nuint oldSize, nuint newSize, int flags, nint newAddress);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial nint mmap(nint addr, nuint length, Interop.Prot prot, Interop.MapFlags flags, int fd, long offset);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial nint pwrite(int fd, void* buffer, nuint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int ftruncate(int fd, long length);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int fcntl(int fd, Interop.FcntlCommand cmd, int arg);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fstat(int fd, byte* buffer);

    /// <summary>The bytes of memory the file behind <paramref name="fd"/> holds (st_blocks of fstat, in 512-byte units): a punched hole holds none.</summary>
    internal static long AllocatedBytes(int fd)
    {
        // struct stat is 144 bytes on x86-64 and 128 on arm64; st_blocks is at byte 64 on both.
        byte* stat = stackalloc byte[256];
        Assert.Equal(0, fstat(fd, stat));
        return *(long*)(stat + 64) * 512;
    }

    /// <summary>RLIMIT_NOFILE and RLIMIT_FSIZE (asm-generic/resource.h).</summary>
    internal const int RLimitNoFile = 7, RLimitFileSize = 1;

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    internal struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int setrlimit(int resource, in RLimit limit);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int getrlimit(int resource, out RLimit limit);
}
