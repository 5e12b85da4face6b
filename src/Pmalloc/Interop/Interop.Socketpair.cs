using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>The Unix domain (sys/socket.h: AF_UNIX).</summary>
    internal const int AfUnix = 1;

    /// <summary>Socket types and type flags (asm-generic/socket.h, linux/net.h).</summary>
    [Flags]
    internal enum SocketType
    {
        /// <summary>Reliable, ordered datagrams: each send is one message, each recv one whole message.</summary>
        SeqPacket = 5,

        /// <summary>The descriptors close on exec.</summary>
        CloseOnExec = 0x80000,
    }

    /// <summary>Creates a connected pair of sockets; <paramref name="fds"/> receives their two descriptors.</summary>
    [LibraryImport(Libc, SetLastError = true)]
    internal static unsafe partial int socketpair(int domain, SocketType type, int protocol, int* fds);
}
