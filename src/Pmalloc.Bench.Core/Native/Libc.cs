using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

/// <summary>
/// The libc calls the benchmarks' baselines and the CLI's attack catalog make themselves, one file per function
/// (<c>Libc.Mmap.cs</c>, <c>Libc.Mprotect.cs</c>, ...): they use Pmalloc's public API only, and these bindings of
/// their own. Constants are the Linux kernel's numeric values (x86-64 and arm64 agree on all of them), never the
/// runtime's System.Native shim values. Every call sets errno; <see cref="ErrorFor"/> turns it into an exception.
/// </summary>
public static partial class Libc
{
    private const string Library = "libc";

    /// <summary>The errno of the last call made through this class.</summary>
    public static int LastErrno => Marshal.GetLastPInvokeError();

    /// <summary>Throws the exception that fits the last errno for a failed <paramref name="call"/>.</summary>
    [DoesNotReturn]
    public static void ThrowLastError(string call, string context) => throw ErrorFor(LastErrno, call, context);

    /// <summary>
    /// The exception for errno <paramref name="errno"/> of <paramref name="call"/>, with the kernel's text:
    /// <see cref="UnauthorizedAccessException"/> for EPERM and EACCES, <see cref="OutOfMemoryException"/> for ENOMEM,
    /// <see cref="PlatformNotSupportedException"/> for ENOSYS, else <see cref="IOException"/>.
    /// </summary>
    public static Exception ErrorFor(int errno, string call, string context)
    {
        string message = $"{context}: {call} failed with {ErrnoName(errno)} ({Marshal.GetPInvokeErrorMessage(errno)}).";
        return errno switch
        {
            EPERM or EACCES => new UnauthorizedAccessException(message),
            ENOMEM => new OutOfMemoryException(message),
            ENOSYS => new PlatformNotSupportedException(message),
            _ => new IOException(message, errno),
        };
    }

    private const int EPERM = 1;
    private const int ENOMEM = 12;
    private const int EACCES = 13;
    private const int ENOSYS = 38;

    private static string ErrnoName(int errno) => errno switch
    {
        EPERM => "EPERM",
        2 => "ENOENT",
        6 => "ENXIO",
        9 => "EBADF",
        11 => "EAGAIN",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        16 => "EBUSY",
        19 => "ENODEV",
        22 => "EINVAL",
        ENOSYS => "ENOSYS",
        _ => $"errno {errno}",
    };
}
