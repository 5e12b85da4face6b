using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>send and recv flags (linux/socket.h).</summary>
    [Flags]
    internal enum MessageFlags
    {
        None = 0,

        /// <summary>No SIGPIPE when the peer is gone: EPIPE instead.</summary>
        NoSignal = 0x4000,
    }

    /// <summary>The control message level and type that pass descriptors (SOL_SOCKET, SCM_RIGHTS).</summary>
    internal const int SolSocket = 1;

    /// <summary>The control message type that passes descriptors.</summary>
    internal const int ScmRights = 1;

    /// <summary>One buffer of a message (sys/uio.h: struct iovec).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    /// <summary>A message (sys/socket.h: struct msghdr, the 64-bit layout).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct MessageHeader
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>
    /// One control message carrying one descriptor (struct cmsghdr followed by the int; CMSG_SPACE(sizeof(int)) is 24 on
    /// 64-bit Linux, CMSG_LEN 20).
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct FdControlMessage
    {
        public nuint Length;
        public int Level;
        public int Type;
        public int Fd;
        private readonly int _padding;

        /// <summary>CMSG_LEN(sizeof(int)): the header and the descriptor, without the trailing padding.</summary>
        internal static nuint MessageLength => (nuint)(sizeof(ulong) + (2 * sizeof(int)) + sizeof(int));
    }

    [LibraryImport(Libc, SetLastError = true)]
    internal static unsafe partial nint sendmsg(SafeFdHandle fd, MessageHeader* message, MessageFlags flags);
}
