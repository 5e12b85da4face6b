using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    /// <summary>Clock ids (linux/time.h).</summary>
    public enum ClockId
    {
        /// <summary>CPU time this thread spent, in user space and in the kernel on its behalf.</summary>
        ThreadCpuTime = 3,
    }

    /// <summary>struct timespec.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport(Library, SetLastError = true)]
    public static partial int clock_gettime(ClockId clock, out TimeSpec time);

    /// <summary>This thread's CPU time in nanoseconds: time spent waiting for a core shared with other processes is not in it.</summary>
    public static long ThreadCpuNs() =>
        clock_gettime(ClockId.ThreadCpuTime, out TimeSpec t) == 0 ? (t.Seconds * 1_000_000_000) + t.Nanoseconds : throw ErrorFor(LastErrno, "clock_gettime", "read the thread's CPU time");
}
