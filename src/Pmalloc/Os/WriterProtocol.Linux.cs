using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// The wire format between the library and the writer process, the same structs as <c>src/Pmalloc.Writer/writer.c</c>:
/// one <see cref="Request"/> per SOCK_SEQPACKET packet (a <see cref="Op.Write"/> carries its bytes after it), one
/// <see cref="Reply"/> per request, native byte order. The first reply, unasked, is the hello.
/// </summary>
internal static class WriterProtocol
{
    /// <summary>The hello's value: "PMW1".</summary>
    internal const uint HelloMagic = 0x31574d50;

    /// <summary>The protocol version, in the hello's stage field.</summary>
    internal const uint Version = 1;

    /// <summary>Set in the hello's value when the writer's seccomp filter is in force.</summary>
    internal const ulong SeccompBit = 1UL << 32;

    /// <summary>The largest <see cref="Op.Write"/> payload; longer writes go in pieces.</summary>
    internal const int MaxData = 65536;

    internal enum Op : uint
    {
        Register = 1,
        Unregister = 2,
        Store = 3,
        Add = 4,
        CompareExchange = 5,
        Write = 6,
        Fill = 7,
    }

    [Flags]
    internal enum RegisterFlags : uint
    {
        None = 0,
        DontDump = 1,
        Lock = 2,
    }

    /// <summary>The step that failed in the writer, so the exception can name its system call.</summary>
    internal enum Stage : uint
    {
        None = 0,
        Mmap = 1,
        Mlock = 2,
        Madvise = 3,
        Protocol = 4,
        Setup = 5,
    }

    /// <summary>One command (48 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Request
    {
        public Op Op;
        public RegisterFlags Flags;
        public ulong Handle;
        public ulong Offset;
        public ulong Length;
        public ulong Value;
        public ulong Comparand;
    }

    /// <summary>One answer (16 bytes): 0 or an errno, the failed <see cref="Stage"/>, and the result.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Reply
    {
        public int Error;
        public Stage Stage;
        public ulong Value;
    }
}
