using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>Receives one message (one whole packet on a SOCK_SEQPACKET socket) into <paramref name="buffer"/>.</summary>
    [LibraryImport(Libc, SetLastError = true)]
    internal static unsafe partial nint recv(SafeFdHandle fd, void* buffer, nuint length, MessageFlags flags);
}
