using System.Runtime.Versioning;
using static Pmalloc.Interop.Kernel32;

namespace Pmalloc;

/// <summary>
/// Scratch memory on Windows: <c>VirtualAlloc</c> (private, committed, zeroed), then <c>VirtualLock</c> and
/// <c>WerRegisterExcludedMemoryBlock</c> as the flags ask (the exclusion only where kernel32 has it).
/// </summary>
[SupportedOSPlatform("windows")]
internal static unsafe class WindowsScratch
{
    internal static OsResult TryMap(nuint length, ChunkFlags flags, out nint address)
    {
        address = VirtualAlloc(0, length, AllocationType.Reserve | AllocationType.Commit, PageProtection.ReadWrite);
        if (address == 0)
        {
            return OsResult.Fail("VirtualAlloc", $"map {length} bytes of scratch memory for a write batch");
        }

        OsResult result = OsResult.Ok;
        if ((flags & ChunkFlags.LockInMemory) != 0 && !VirtualLock(address, length))
        {
            result = OsResult.Fail("VirtualLock", $"lock {length} bytes of a write batch's scratch memory");
        }
        else if ((flags & ChunkFlags.ExcludeFromCoreDumps) != 0 && WerRegisterExcludedMemoryBlock != null && length <= MaxExcludedBlock)
        {
            int hresult = WerRegisterExcludedMemoryBlock((void*)address, (uint)length);
            if (hresult < 0)
            {
                result = OsResult.Fail(hresult, "WerRegisterExcludedMemoryBlock", $"exclude {length} bytes of a write batch's scratch memory from error reports");
            }
        }

        if (result.Failed)
        {
            _ = VirtualFree(address, 0, MemRelease);
            address = 0;
        }

        return result;
    }

    internal static void Unmap(nint address, nuint length)
    {
        if (WerUnregisterExcludedMemoryBlock != null)
        {
            // Intentionally ignore the result: it fails only for a block that was never registered.
            _ = WerUnregisterExcludedMemoryBlock((void*)address);
        }

        _ = VirtualFree(address, 0, MemRelease);
    }
}
