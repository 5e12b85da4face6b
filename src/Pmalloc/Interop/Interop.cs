using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// libc entry points, one file per function (<c>Interop.Mmap.cs</c>, <c>Interop.Mprotect.cs</c>, ...).
/// Constants are the Linux kernel's own numeric values (x86-64 and arm64 agree on all of them),
/// never the runtime's System.Native shim values. Every call sets errno, which <see cref="LastErrno"/>
/// reads; the OS layer (<c>Os/</c>) turns it into an <see cref="OsResult"/>.
/// </summary>
internal static partial class Interop
{
    internal const string Libc = "libc";

    /// <summary>The errno of the last call made through this class.</summary>
    internal static int LastErrno => Marshal.GetLastPInvokeError();

    /// <summary>The symbolic name of <paramref name="errno"/>, for messages.</summary>
    internal static string ErrnoName(int errno) => errno switch
    {
        Errno.EPERM => "EPERM",
        Errno.ENOENT => "ENOENT",
        Errno.ENXIO => "ENXIO",
        Errno.ENOEXEC => "ENOEXEC",
        Errno.ECHILD => "ECHILD",
        Errno.EINTR => "EINTR",
        Errno.EIO => "EIO",
        Errno.EBADF => "EBADF",
        Errno.EAGAIN => "EAGAIN",
        Errno.ENOMEM => "ENOMEM",
        Errno.EACCES => "EACCES",
        Errno.EFAULT => "EFAULT",
        Errno.EBUSY => "EBUSY",
        Errno.EINVAL => "EINVAL",
        Errno.ENFILE => "ENFILE",
        Errno.EMFILE => "EMFILE",
        Errno.EFBIG => "EFBIG",
        Errno.ESPIPE => "ESPIPE",
        Errno.ENOSYS => "ENOSYS",
        Errno.EOPNOTSUPP => "EOPNOTSUPP",
        Errno.EPIPE => "EPIPE",
        Errno.EMSGSIZE => "EMSGSIZE",
        Errno.ECONNRESET => "ECONNRESET",
        Errno.ETIMEDOUT => "ETIMEDOUT",
        Errno.EPROTO => "EPROTO",
        _ => $"errno {errno}",
    };

    /// <summary>errno values (asm-generic/errno-base.h).</summary>
    internal static class Errno
    {
        internal const int EPERM = 1;
        internal const int ENOENT = 2;
        internal const int EINTR = 4;
        internal const int EIO = 5;
        internal const int ENXIO = 6;
        internal const int ENOEXEC = 8;
        internal const int EBADF = 9;
        internal const int ECHILD = 10;
        internal const int EAGAIN = 11;
        internal const int ENOMEM = 12;
        internal const int EACCES = 13;
        internal const int EFAULT = 14;
        internal const int EBUSY = 16;
        internal const int EINVAL = 22;
        internal const int ENFILE = 23;
        internal const int EMFILE = 24;
        internal const int EFBIG = 27;
        internal const int ESPIPE = 29;
        internal const int EPIPE = 32;
        internal const int ENOSYS = 38;
        internal const int EOPNOTSUPP = 95;
        internal const int EPROTO = 71;
        internal const int EMSGSIZE = 90;
        internal const int ECONNRESET = 104;
        internal const int ETIMEDOUT = 110;
    }
}
