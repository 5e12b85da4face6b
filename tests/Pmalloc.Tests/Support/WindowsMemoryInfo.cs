using System.Runtime.InteropServices;

namespace Pmalloc.Tests;

/// <summary>One region of this process's address space, as <c>VirtualQuery</c> reports it (Windows).</summary>
/// <param name="Base">The first byte of the region (pages of one allocation with the same state and protection).</param>
/// <param name="AllocationBase">The first byte of the allocation (for a view: where <c>MapViewOfFile</c> put it).</param>
/// <param name="Size">Bytes in the region.</param>
/// <param name="State">MEM_COMMIT, MEM_RESERVE or MEM_FREE.</param>
/// <param name="Protection">PAGE_* of the region (0 unless committed).</param>
/// <param name="Type">MEM_PRIVATE, MEM_MAPPED or MEM_IMAGE.</param>
internal readonly record struct MemoryRegion(nint Base, nint AllocationBase, nuint Size, uint State, uint Protection, uint Type)
{
    internal const uint MemCommit = 0x1000;
    internal const uint MemMapped = 0x40000;
    internal const uint PageNoAccess = 0x01;
    internal const uint PageReadOnly = 0x02;
    internal const uint PageReadWrite = 0x04;
    internal const uint PageWriteCopy = 0x08;
    internal const uint PageExecuteReadWrite = 0x40;
    internal const uint PageExecuteWriteCopy = 0x80;

    internal bool IsWritable => State == MemCommit && (Protection & (PageReadWrite | PageWriteCopy | PageExecuteReadWrite | PageExecuteWriteCopy)) != 0;

    internal bool IsReadable => State == MemCommit && (Protection & 0xEE) != 0 && (Protection & 0x100 /* PAGE_GUARD */) == 0;
}

/// <summary>The kernel's view of this process on Windows: what <c>VirtualQuery</c> says of its pages, and its handle count.</summary>
internal static unsafe partial class WindowsMemoryInfo
{
    /// <summary>The region that holds <paramref name="address"/>.</summary>
    internal static MemoryRegion At(nint address)
    {
        Platform.RequireWindows("VirtualQuery");
        Assert.NotEqual(0u, (uint)VirtualQuery(address, out BasicInformation info, (nuint)sizeof(BasicInformation)));
        return new MemoryRegion(info.BaseAddress, info.AllocationBase, info.RegionSize, info.State, info.Protect, info.Type);
    }

    /// <summary>Every region of the address space, in address order.</summary>
    internal static List<MemoryRegion> All()
    {
        Platform.RequireWindows("VirtualQuery");
        List<MemoryRegion> regions = [];
        nint address = 0;
        while (VirtualQuery(address, out BasicInformation info, (nuint)sizeof(BasicInformation)) != 0)
        {
            regions.Add(new MemoryRegion(info.BaseAddress, info.AllocationBase, info.RegionSize, info.State, info.Protect, info.Type));
            nint next = info.BaseAddress + (nint)info.RegionSize;
            if (next <= address)
            {
                break;
            }

            address = next;
        }

        return regions;
    }

    /// <summary>The committed regions of mapped views (sections), one entry per region.</summary>
    internal static List<MemoryRegion> MappedViews() => [.. All().Where(r => r.Type == MemoryRegion.MemMapped && r.State == MemoryRegion.MemCommit)];

    /// <summary>How many handles this process holds (sections among them).</summary>
    internal static int HandleCount()
    {
        Platform.RequireWindows("GetProcessHandleCount");
        Assert.True(GetProcessHandleCount(GetCurrentProcess(), out uint count));
        return (int)count;
    }

    /// <summary>Tries to change the protection of [<paramref name="address"/>, +<paramref name="size"/>); returns the error code, 0 on success.</summary>
    internal static int TryProtect(nint address, nuint size, uint protection) =>
        VirtualProtect(address, size, protection, out _) ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>
    /// A handle of this process's own to the section behind <paramref name="section"/>, read access only: it keeps the
    /// section's memory alive after the pool closed its handle and unmapped its views, so a test can read what was left in it.
    /// Close it with <see cref="CloseSection"/>.
    /// </summary>
    internal static nint KeepSection(SafeSectionHandle section)
    {
        Platform.RequireWindows("DuplicateHandle");
        using System.Diagnostics.Process self = System.Diagnostics.Process.GetCurrentProcess();
        Assert.True(Interop.Kernel32.DuplicateHandle(GetCurrentProcess(), section, self.SafeHandle, out nint copy, Interop.Kernel32.SectionAccess.MapRead, false, 0));
        return copy;
    }

    /// <summary>Copies the first <paramref name="bytes"/> bytes of the section <paramref name="section"/>, through a read-only view of it.</summary>
    internal static byte[] ReadSection(nint section, nuint bytes)
    {
        nint view = MapViewOfFile(section, 0x4 /* FILE_MAP_READ */, 0, 0, bytes);
        Assert.NotEqual(0, view);
        try
        {
            return new ReadOnlySpan<byte>((void*)view, checked((int)bytes)).ToArray();
        }
        finally
        {
            Assert.True(UnmapViewOfFile(view));
        }
    }

    /// <summary>Closes a handle from <see cref="KeepSection"/>.</summary>
    internal static void CloseSection(nint section) => Assert.True(CloseHandle(section));

    [LibraryImport("kernel32.dll", SetLastError = true)]
    private static partial nint MapViewOfFile(nint section, uint access, uint offsetHigh, uint offsetLow, nuint bytes);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool UnmapViewOfFile(nint view);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool CloseHandle(nint handle);

    [StructLayout(LayoutKind.Sequential)]
    private struct BasicInformation
    {
        public nint BaseAddress;
        public nint AllocationBase;
        public uint AllocationProtect;
        public ushort PartitionId;
        public nuint RegionSize;
        public uint State;
        public uint Protect;
        public uint Type;
    }

    [LibraryImport("kernel32.dll", SetLastError = true)]
    private static partial nuint VirtualQuery(nint address, out BasicInformation buffer, nuint length);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool VirtualProtect(nint address, nuint size, uint protection, out uint old);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool GetProcessHandleCount(nint process, out uint count);

    [LibraryImport("kernel32.dll")]
    private static partial nint GetCurrentProcess();
}
