using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// libc entry points, one file per function (<c>Interop.Mmap.cs</c>, <c>Interop.Mprotect.cs</c>, ...).
/// Constants are the Linux kernel's own numeric values (x86-64 and arm64 agree on all of them),
/// never the runtime's System.Native shim values. Every call sets errno; <see cref="ThrowLastError"/>
/// turns it into an exception in one place.
/// </summary>
internal static partial class Interop
{
    internal const string Libc = "libc";

    /// <summary>The errno of the last call made through this class.</summary>
    internal static int LastErrno => Marshal.GetLastPInvokeError();

    /// <summary>Throws the exception that fits the last errno for a failed <paramref name="call"/>.</summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    internal static void ThrowLastError(string call, string context) => throw ErrorFor(LastErrno, call, context);

    /// <summary>Builds the exception for errno <paramref name="errno"/>, with the kernel's own text from strerror.</summary>
    internal static Exception ErrorFor(int errno, string call, string context)
    {
        string message = $"{context}: {call} failed with {ErrnoName(errno)} ({StrError(errno)}).";
        return errno switch
        {
            Errno.ENOMEM => new OutOfMemoryException(message),
            Errno.ENOSYS => new PlatformNotSupportedException(message),
            Errno.EPERM or Errno.EACCES => new UnauthorizedAccessException(message),
            _ => new IOException(message, errno),
        };
    }

    internal static string StrError(int errno)
    {
        nint text = strerror(errno);
        return text == 0 ? $"errno {errno}" : Marshal.PtrToStringUTF8(text) ?? $"errno {errno}";
    }

    internal static string ErrnoName(int errno) => errno switch
    {
        Errno.EPERM => "EPERM",
        Errno.EINTR => "EINTR",
        Errno.EBADF => "EBADF",
        Errno.EAGAIN => "EAGAIN",
        Errno.ENOMEM => "ENOMEM",
        Errno.EACCES => "EACCES",
        Errno.EBUSY => "EBUSY",
        Errno.EINVAL => "EINVAL",
        Errno.ENOSYS => "ENOSYS",
        _ => $"errno {errno}",
    };

    [LibraryImport(Libc)]
    private static partial nint strerror(int errnum);

    /// <summary>errno values (asm-generic/errno-base.h).</summary>
    internal static class Errno
    {
        internal const int EPERM = 1;
        internal const int EINTR = 4;
        internal const int EBADF = 9;
        internal const int EAGAIN = 11;
        internal const int ENOMEM = 12;
        internal const int EACCES = 13;
        internal const int EBUSY = 16;
        internal const int EINVAL = 22;
        internal const int ENOSYS = 38;
    }
}
