using System.Runtime.InteropServices;
using System.Text.Unicode;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>memfd_create flags (linux/memfd.h).</summary>
    [Flags]
    internal enum MemfdFlags : uint
    {
        CloseOnExec = 0x1,
        AllowSealing = 0x2,
        NoExec = 0x8,
    }

    /// <summary>The kernel shows the name as <c>/memfd:NAME</c> in /proc/PID/maps; it may be at most 249 bytes.</summary>
    internal const int MemfdMaxNameBytes = 249;

    /// <summary>
    /// A memfd named <paramref name="prefix"/> + <paramref name="name"/> in UTF-8, cut after the last whole character
    /// that fits in <see cref="MemfdMaxNameBytes"/> (the kernel refuses a longer name). Encoded on the stack: no string is made.
    /// </summary>
    internal static unsafe SafeFdHandle memfd_create(ReadOnlySpan<char> prefix, ReadOnlySpan<char> name, MemfdFlags flags)
    {
        byte* buffer = stackalloc byte[MemfdMaxNameBytes + 1];
        Span<byte> bytes = new(buffer, MemfdMaxNameBytes);

        // DestinationTooSmall leaves what fits, in whole characters (a surrogate pair is never split).
        _ = Utf8.FromUtf16(prefix, bytes, out _, out int head);
        _ = Utf8.FromUtf16(name, bytes[head..], out _, out int tail);
        buffer[head + tail] = 0;
        return memfd_create(buffer, flags);
    }

    /// <summary>memfd_create(2); <paramref name="name"/> is NUL-terminated UTF-8.</summary>
    [LibraryImport(Libc, SetLastError = true)]
    private static unsafe partial SafeFdHandle memfd_create(byte* name, MemfdFlags flags);
}
