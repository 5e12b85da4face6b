using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>One descriptor to wait on (poll.h: struct pollfd).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    /// <summary>poll events (asm-generic/poll.h).</summary>
    internal const short PollIn = 0x1;

    [LibraryImport(Libc, SetLastError = true)]
    internal static unsafe partial int poll(PollFd* fds, nuint count, int timeoutMilliseconds);
}
