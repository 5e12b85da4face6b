using System.Runtime.InteropServices;

namespace WinProbe;

/// <summary>The kernel32 calls the probe makes; the constants are the Win32 headers' values.</summary>
internal static partial class Kernel32
{
    private const string Lib = "kernel32";

    public const uint MemCommit = 0x1000;
    public const uint MemReserve = 0x2000;
    public const uint MemRelease = 0x8000;
    public const uint PageNoAccess = 0x01;
    public const uint PageReadOnly = 0x02;
    public const uint PageReadWrite = 0x04;
    public const uint FileMapWrite = 0x0002;
    public const uint FileMapRead = 0x0004;
    public const uint SectionMapWrite = 0x0002;
    public const uint SectionMapRead = 0x0004;
    public const uint ProcessDupHandle = 0x0040;
    public const uint ProcessQueryLimitedInformation = 0x1000;
    public const uint DuplicateSameAccess = 0x2;
    public static readonly nint InvalidHandleValue = -1;

    [StructLayout(LayoutKind.Sequential)]
    public struct MemoryBasicInformation
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

    [StructLayout(LayoutKind.Sequential)]
    public struct SystemInfo
    {
        public ushort ProcessorArchitecture;
        public ushort Reserved;
        public uint PageSize;
        public nint MinimumApplicationAddress;
        public nint MaximumApplicationAddress;
        public nuint ActiveProcessorMask;
        public uint NumberOfProcessors;
        public uint ProcessorType;
        public uint AllocationGranularity;
        public ushort ProcessorLevel;
        public ushort ProcessorRevision;
    }

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint VirtualAlloc(nint address, nuint size, uint allocationType, uint protect);

    [LibraryImport(Lib, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    public static partial bool VirtualFree(nint address, nuint size, uint freeType);

    [LibraryImport(Lib, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    public static partial bool VirtualProtect(nint address, nuint size, uint newProtect, out uint oldProtect);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nuint VirtualQuery(nint address, out MemoryBasicInformation info, nuint length);

    [LibraryImport(Lib, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    public static partial bool VirtualLock(nint address, nuint size);

    [LibraryImport(Lib, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    public static partial bool VirtualUnlock(nint address, nuint size);

    [LibraryImport(Lib, EntryPoint = "CreateFileMappingW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    public static partial nint CreateFileMapping(nint file, nint attributes, uint protect, uint maximumSizeHigh, uint maximumSizeLow, string? name);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint MapViewOfFile(nint section, uint desiredAccess, uint offsetHigh, uint offsetLow, nuint bytes);

    [LibraryImport(Lib, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    public static partial bool UnmapViewOfFile(nint address);

    [LibraryImport(Lib, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    public static partial bool CloseHandle(nint handle);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint OpenProcess(uint desiredAccess, [MarshalAs(UnmanagedType.Bool)] bool inheritHandle, uint processId);

    [LibraryImport(Lib)]
    public static partial nint GetCurrentProcess();

    [LibraryImport(Lib, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    public static partial bool DuplicateHandle(nint sourceProcess, nint sourceHandle, nint targetProcess, out nint targetHandle,
        uint desiredAccess, [MarshalAs(UnmanagedType.Bool)] bool inheritHandle, uint options);

    [LibraryImport(Lib, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    public static partial bool GetProcessWorkingSetSize(nint process, out nuint minimum, out nuint maximum);

    [LibraryImport(Lib, SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    public static partial bool SetProcessWorkingSetSize(nint process, nuint minimum, nuint maximum);

    [LibraryImport(Lib)]
    public static partial void GetSystemInfo(out SystemInfo info);

    // Windows 10 1903+ exports these from kernel32; the probe checks the export before it calls.
    [LibraryImport(Lib)]
    public static partial int WerRegisterExcludedMemoryBlock(nint address, uint size);

    [LibraryImport(Lib)]
    public static partial int WerUnregisterExcludedMemoryBlock(nint address);
}
