using System.Runtime.Versioning;
using static Pmalloc.Interop.Kernel32;
using static Pmalloc.OsMemory;

namespace Pmalloc;

/// <summary>
/// The OS memory contract on Windows: each chunk is an unnamed section of its own, backed by the paging file
/// (<c>CreateFileMappingW</c>), mapped whole with <c>MapViewOfFile</c> (not one file per pool as on Linux: see below); with guard pages the section is two pages larger
/// and the view's first and last pages are made <c>PAGE_NOACCESS</c>, so the guards belong to the chunk's own view, as
/// on Linux they belong to its reservation. Protect is <c>VirtualProtect(PAGE_READONLY)</c>; locking is
/// <c>VirtualLock</c>; exclusion from dumps is <c>WerRegisterExcludedMemoryBlock</c> where kernel32 has it.
/// </summary>
/// <remarks>
/// <para>Why not the layout Linux uses (a reservation with the chunk mapped over its middle)? Windows can place a view
/// inside a reservation only as a placeholder (<c>VirtualAlloc2</c>, <c>MapViewOfFile3</c>), which Wine 8 does not
/// implement, and a view placed by address (<c>MapViewOfFileEx</c>) must start on the 64 KiB allocation granularity and
/// races every other thread for the address between freeing the reservation and mapping. Guard pages inside the view cost
/// two pages of commit charge, never of memory: they are never touched.</para>
/// <para>Why one section per chunk, where Linux has one memfd per pool with chunks at offsets? A view of a section must
/// start at a multiple of the 64 KiB allocation granularity in the section, so chunks of one section would each have to be
/// 64 KiB-aligned in it, and a section cannot grow (<c>SEC_COMMIT</c> sections have a fixed size): the pool would need a
/// new section per growth anyway. Windows counts handles, not mappings, and has no limit like <c>vm.max_map_count</c>, so
/// the Linux reasons (descriptors, VMAs) do not apply. Nor does Windows punch holes in a section: a wipe is a store of zeros
/// (<see cref="ChunkMapping.TakesHoles"/> is false), and a freed chunk's pages go back when its view and section go.</para>
/// <para>A chunk born read-only (the object cache's) is mapped with <c>FILE_MAP_READ</c> only: <c>VirtualProtect</c> can
/// never make such a view writable (it fails with ERROR_INVALID_PARAMETER).</para>
/// <para>What Windows does not have: sealing (nothing forbids a later <c>VirtualProtect</c> of a protected chunk back to
/// read-write, as <c>mprotect</c> can on Linux without <c>mseal</c>), and secret memory. Neither is offered:
/// <see cref="KernelFeatures"/> reports both missing, so the pool refuses <see cref="SealMode.Required"/> and
/// <see cref="PoolOptions.SecretMemory"/> before any call lands here.</para>
/// <para>Error codes in an <see cref="OsResult"/> from this layer are Win32 error codes (or an HRESULT from
/// <c>WerRegisterExcludedMemoryBlock</c>), not errnos.</para>
/// </remarks>
[SupportedOSPlatform("windows")]
internal static unsafe class WindowsMemory
{
    internal static OsResult TryMap(PoolBacking backing, nuint length, ChunkFlags flags, out ChunkMapping? mapping)
    {
        _ = backing; // names the pool only: the section is the chunk's own, and unnamed.
        AssertPageMultiple(length);
        mapping = null;
        if ((flags & ChunkFlags.SecretMemory) != 0)
        {
            return OsResult.Fail(Errors.ERROR_NOT_SUPPORTED, "memfd_secret", "create a chunk of secret memory (Windows has none)");
        }

        nuint guard = (flags & ChunkFlags.GuardPages) != 0 ? (nuint)PageSize : 0;
        ulong total = checked((ulong)length + (2 * (ulong)guard));

        // Unnamed: no other process can open the section by name. SEC_COMMIT charges the whole section against the commit
        // limit now, so a write to it can never fail for want of commit later; its pages are zero.
        SafeSectionHandle section = CreateFileMapping(InvalidHandleValue, 0, (uint)PageProtection.ReadWrite | SecCommit, (uint)(total >> 32), (uint)total, null);
        if (section.IsInvalid)
        {
            OsResult failed = OsResult.Fail("CreateFileMappingW", $"create a chunk of {length} bytes");
            section.Dispose();
            return failed;
        }

        FileMapAccess access = (flags & ChunkFlags.ReadOnlyFromBirth) != 0 ? FileMapAccess.Read : FileMapAccess.Read | FileMapAccess.Write;
        nint view = MapViewOfFile(section, access, 0, 0, (nuint)total);
        if (view == 0)
        {
            OsResult failed = OsResult.Fail("MapViewOfFile", $"map a chunk of {length} bytes");
            section.Dispose();
            return failed;
        }

        ChunkMapping made = new(section, view, (nuint)total, view + (nint)guard, length, flags) { BackingOffset = (long)guard };
        OsResult result = Harden(made, guard);
        if (result.Failed)
        {
            Unmap(made);
            return result;
        }

        mapping = made;
        return OsResult.Ok;
    }

    internal static OsResult TryProtect(ChunkMapping mapping, bool writable) =>
        VirtualProtect(mapping.Start, mapping.Length, writable ? PageProtection.ReadWrite : PageProtection.ReadOnly, out _)
            ? OsResult.Ok
            : OsResult.Fail("VirtualProtect", writable ? "make a chunk writable" : "make a chunk read-only");

    internal static OsResult TrySealMapping(ChunkMapping mapping) =>
        OsResult.Fail(Errors.ERROR_NOT_SUPPORTED, "mseal", "seal a chunk's mapping (Windows has no sealing)");

    internal static OsResult TrySealBacking(ChunkMapping mapping, bool final) =>
        OsResult.Fail(Errors.ERROR_NOT_SUPPORTED, "mseal", "seal a chunk's section (Windows has no sealing)");

    internal static OsResult TryWriteBacking(ChunkMapping mapping, nuint offset, byte* source, nuint length) =>
        OsResult.Fail(Errors.ERROR_NOT_SUPPORTED, "WriteFile", $"write {length} bytes through a chunk's section (Windows writes a section only through a view: these writes go through the writer process)");

    internal static OsResult TryPunch(ChunkMapping mapping, nuint offset, nuint length) =>
        OsResult.Fail(Errors.ERROR_NOT_SUPPORTED, "fallocate", $"punch a hole of {length} bytes in a chunk's section (Windows sections take none)");

    internal static OsResult TryRemove(ChunkMapping mapping, nuint offset, nuint length) =>
        OsResult.Fail(Errors.ERROR_NOT_SUPPORTED, "madvise(MADV_REMOVE)", $"give back {length} bytes of a chunk's section (Windows sections take no holes)");

    internal static OsResult TryZeroThroughSection(ChunkMapping mapping, nuint length)
    {
        // Destroy's wipe of a protected write-once pool (a write-rare pool's goes through the writer process): a writable view
        // of the used pages for the moment of wiping, unmapped at once, never the public one (DESIGN: "unprotect only here").
        // Views start on the allocation granularity, so this one starts at the section's start, below the chunk.
        if (!mapping.HasBacking)
        {
            return OsResult.Fail(Errors.ERROR_INVALID_HANDLE, "MapViewOfFile", $"map a writable view of {length} bytes to wipe: the chunk's section was closed");
        }

        ulong from = (ulong)mapping.BackingOffset;
        nuint span = (nuint)from + RoundUpToPages(length);
        nint view = MapViewOfFile(mapping.Section, FileMapAccess.Write, 0, 0, span);
        if (view == 0)
        {
            return OsResult.Fail("MapViewOfFile", $"map a writable view of {span} bytes to wipe");
        }

        Wipe(view + (nint)from, length);

        // Intentionally ignore the result: unmapping a view we just mapped cannot fail.
        _ = UnmapViewOfFile(view);
        return OsResult.Ok;
    }

    internal static void CloseBacking(ChunkMapping mapping) => mapping.Backing.Dispose();

    internal static void Unmap(ChunkMapping mapping)
    {
        if (mapping.IsExcludedFromErrorReports)
        {
            Unregister(mapping.Start, mapping.Length);
            mapping.IsExcludedFromErrorReports = false;
        }

        // Unmapping the view (which also unlocks its pages) of a section we mapped cannot fail; the caller never unmaps twice.
        _ = UnmapViewOfFile(mapping.ReservationStart);
        mapping.Backing.Dispose();
    }

    internal static bool TryGetThreadStack(out nuint low, out nuint size)
    {
        GetCurrentThreadStackLimits(out nuint lowLimit, out nuint highLimit);
        low = lowLimit;
        size = highLimit - lowLimit;
        return highLimit > lowLimit;
    }

    internal static string LockedMemoryLimit() =>
        GetProcessWorkingSetSize(GetCurrentProcess(), out nuint minimum, out nuint maximum)
            ? $"a working-set minimum of {minimum} bytes (maximum {maximum})"
            : "a working-set minimum of unknown size";

    internal static bool IsLockedMemoryLimit(OsResult result) =>
        result.Call == "VirtualLock" && result.Errno is Errors.ERROR_WORKING_SET_QUOTA or Errors.ERROR_NO_SYSTEM_RESOURCES or Errors.ERROR_NOT_ENOUGH_QUOTA;

    internal static OsErrorKind KindOf(OsResult result) => result.Errno switch
    {
        Errors.ERROR_NOT_ENOUGH_MEMORY or Errors.ERROR_OUTOFMEMORY or Errors.ERROR_COMMITMENT_LIMIT or Errors.E_OUTOFMEMORY => OsErrorKind.OutOfMemory,
        Errors.ERROR_NOT_SUPPORTED => OsErrorKind.NotSupported,
        Errors.ERROR_ACCESS_DENIED or Errors.ERROR_PRIVILEGE_NOT_HELD => OsErrorKind.Denied,
        _ => OsErrorKind.Other,
    };

    /// <summary>The guard pages, the lock and the exclusion from error reports that <see cref="ChunkMapping.Flags"/> ask for.</summary>
    private static OsResult Harden(ChunkMapping mapping, nuint guard)
    {
        if (guard != 0 &&
            (!VirtualProtect(mapping.ReservationStart, guard, PageProtection.NoAccess, out _) ||
             !VirtualProtect(mapping.Start + (nint)mapping.Length, guard, PageProtection.NoAccess, out _)))
        {
            return OsResult.Fail("VirtualProtect", "make a chunk's guard pages inaccessible");
        }

        // VirtualLock faults every page in now: Windows has no lock on fault (Linux's MLOCK_ONFAULT).
        if ((mapping.Flags & ChunkFlags.LockInMemory) != 0 && !VirtualLock(mapping.Start, mapping.Length))
        {
            return OsResult.Fail("VirtualLock", $"lock a chunk of {mapping.Length} bytes in memory");
        }

        if ((mapping.Flags & ChunkFlags.ExcludeFromCoreDumps) != 0 && WerRegisterExcludedMemoryBlock != null)
        {
            // A registration takes a DWORD size: a chunk of 4 GiB or more is registered in pieces.
            for (nuint done = 0; done < mapping.Length; done += MaxExcludedBlock)
            {
                int hresult = WerRegisterExcludedMemoryBlock((void*)(mapping.Start + (nint)done), (uint)Math.Min(MaxExcludedBlock, mapping.Length - done));
                if (hresult < 0)
                {
                    Unregister(mapping.Start, done);
                    return OsResult.Fail(hresult, "WerRegisterExcludedMemoryBlock", $"exclude a chunk of {mapping.Length} bytes from error reports (at most 512 blocks per process)");
                }
            }

            mapping.IsExcludedFromErrorReports = true;
        }

        return OsResult.Ok;
    }

    /// <summary>Undoes the registrations of [<paramref name="start"/>, +<paramref name="length"/>), piece by piece.</summary>
    private static void Unregister(nint start, nuint length)
    {
        for (nuint done = 0; done < length; done += MaxExcludedBlock)
        {
            // Intentionally ignore the result: the block was registered by us, and unregistering is only bookkeeping.
            _ = WerUnregisterExcludedMemoryBlock((void*)(start + (nint)done));
        }
    }
}
