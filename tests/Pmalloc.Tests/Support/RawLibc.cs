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

    /// <summary>The seals of a sealed write-rare pool before MakeReadOnly: its size only.</summary>
    internal const int SizeSeals = (int)(Interop.Seals.Grow | Interop.Seals.Shrink);

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
}
