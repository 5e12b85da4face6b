using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    /// <summary>_LINUX_CAPABILITY_VERSION_3 (linux/capability.h): 64-bit sets, as two <see cref="CapData"/>.</summary>
    public const uint CapabilityVersion3 = 0x20080522;

    /// <summary>struct __user_cap_header_struct.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct CapHeader
    {
        public uint Version;
        public int Pid;
    }

    /// <summary>struct __user_cap_data_struct: one 32-bit half of each capability set.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct CapData
    {
        public uint Effective;
        public uint Permitted;
        public uint Inheritable;
    }

    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial int capget(ref CapHeader header, CapData* data);
}
