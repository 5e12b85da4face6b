using System.Runtime.InteropServices;
using System.Text;

namespace Pmalloc;

/// <summary>
/// One chunk's mapping: a memfd of <see cref="Length"/> bytes mapped <c>MAP_SHARED</c> at
/// <see cref="Start"/>, optionally between two <c>PROT_NONE</c> guard pages that belong to the same
/// reservation (<see cref="ReservationStart"/>, <see cref="ReservationLength"/>).
/// </summary>
/// <remarks>
/// There is deliberately no finalizer: addresses handed out by a pool are raw pointers the GC cannot
/// see, so unmapping from a finalizer would turn a forgotten pool into a use-after-free. A pool that is
/// never disposed keeps its memory until the process exits.
/// </remarks>
internal sealed partial class ChunkMapping
{
    internal ChunkMapping(int fd, nint reservationStart, nuint reservationLength, nint start, nuint length, ChunkFlags flags)
    {
        Fd = fd;
        Flags = flags;
        ReservationStart = reservationStart;
        ReservationLength = reservationLength;
        Start = start;
        Length = length;
    }

    /// <summary>The memfd behind the mapping, or -1 once closed.</summary>
    internal int Fd { get; private set; }

    /// <summary>First byte of the reservation: the leading guard page, or <see cref="Start"/> without guards.</summary>
    internal nint ReservationStart { get; }

    /// <summary>Bytes of the whole reservation, guard pages included.</summary>
    internal nuint ReservationLength { get; }

    /// <summary>First byte of the usable memory (page-aligned).</summary>
    internal nint Start { get; }

    /// <summary>Usable bytes (a multiple of the OS page size).</summary>
    internal nuint Length { get; }

    internal bool HasGuardPages => ReservationStart != Start;

    /// <summary>Closes the memfd; the mapping keeps the memory alive until it is unmapped.</summary>
    internal void CloseFd()
    {
        if (Fd >= 0)
        {
            // Intentionally ignore the result: close never fails in a way we could act on for a memfd.
            _ = Interop.close(Fd);
            Fd = -1;
        }
    }
}

/// <summary>
/// The OS memory layer: map, protect, advise, wipe and unmap chunks. The kernel's page
/// (<see cref="PageSize"/>) is the unit of protection.
/// </summary>
/// <remarks>
/// Precondition stated once for the whole layer: every address passed in is page-aligned and every
/// length is a non-zero multiple of <see cref="PageSize"/>; callers (the pool) guarantee it, and
/// debug builds assert it.
/// </remarks>
internal static unsafe partial class OsMemory
{
    /// <summary>The kernel's page size, the unit of protection.</summary>
    internal static readonly int PageSize = Environment.SystemPageSize;

    /// <summary>The prefix of every chunk's memfd name; <c>/proc/PID/maps</c> shows <c>/memfd:pmalloc:NAME (deleted)</c>.</summary>
    internal const string MemfdPrefix = "pmalloc:";

    /// <summary>Rounds <paramref name="bytes"/> up to a whole number of pages, or throws on overflow.</summary>
    internal static nuint RoundUpToPages(nuint bytes)
    {
        nuint mask = (nuint)PageSize - 1;
        return checked(bytes + mask) & ~mask;
    }

    /// <summary>
    /// Maps a new read-write chunk of <paramref name="length"/> bytes backed by a fresh memfd named
    /// <c>pmalloc:<paramref name="poolName"/></c> (or by <c>memfd_secret</c>), with a PROT_NONE guard page
    /// on each side, locked and excluded from core dumps, as <paramref name="flags"/> ask.
    /// With <paramref name="readOnly"/> the public mapping is never writable, not even at birth
    /// (the object cache writes through the memfd). On failure nothing is left behind.
    /// </summary>
    internal static ChunkMapping Map(string poolName, nuint length, ChunkFlags flags, bool readOnly = false)
    {
        Interop.Prot protection = readOnly ? Interop.Prot.Read : Interop.Prot.Read | Interop.Prot.Write;
        AssertPageMultiple(length);
        bool guardPages = (flags & ChunkFlags.GuardPages) != 0;
        int fd = CreateBacking(poolName, length, flags);

        nint reservation = 0;
        nuint reservationLength = 0;
        try
        {
            if (Interop.ftruncate(fd, checked((long)length)) != 0)
            {
                Interop.ThrowLastError("ftruncate", $"Pool '{poolName}': cannot size a chunk of {length} bytes");
            }

            nint start;
            if (guardPages)
            {
                // Reserve guard + chunk + guard as one inaccessible anonymous region, then map the memfd
                // over its middle: the guards stay PROT_NONE neighbours ("---p" in /proc/PID/maps).
                reservationLength = checked(length + (2 * (nuint)PageSize));
                reservation = Interop.mmap(0, reservationLength, Interop.Prot.None,
                    Interop.MapFlags.Private | Interop.MapFlags.Anonymous | Interop.MapFlags.NoReserve, -1, 0);
                if (reservation == Interop.MapFailed)
                {
                    reservation = 0;
                    Interop.ThrowLastError("mmap", $"Pool '{poolName}': cannot reserve {reservationLength} bytes");
                }

                start = Interop.mmap(reservation + PageSize, length, protection,
                    Interop.MapFlags.Shared | Interop.MapFlags.Fixed, fd, 0);
            }
            else
            {
                start = Interop.mmap(0, length, protection, Interop.MapFlags.Shared, fd, 0);
                reservation = start == Interop.MapFailed ? 0 : start;
                reservationLength = length;
            }

            if (start == Interop.MapFailed)
            {
                ThrowMapFailed(poolName, length, flags);
            }

            ChunkMapping mapping = new(fd, reservation, reservationLength, start, length, flags);
            Harden(poolName, mapping);
            return mapping;
        }
        catch
        {
            if (reservation != 0)
            {
                _ = Interop.munmap(reservation, reservationLength);
            }

            _ = Interop.close(fd);
            throw;
        }
    }

    /// <summary>Changes the protection of the usable part of <paramref name="mapping"/>; returns errno, or 0.</summary>
    internal static int TryProtect(ChunkMapping mapping, Interop.Prot protection) =>
        Interop.mprotect(mapping.Start, mapping.Length, protection) == 0 ? 0 : Interop.LastErrno;

    /// <summary>Overwrites <paramref name="length"/> bytes at <paramref name="address"/> with zeros.</summary>
    internal static void Wipe(nint address, nuint length)
    {
        // The stores cannot be elided: the memory is shared with a memfd and stays mapped after this call.
        NativeMemory.Clear((void*)address, length);
    }

    /// <summary>Unmaps the whole reservation (guard pages included) and closes the memfd.</summary>
    internal static void Unmap(ChunkMapping mapping)
    {
        // munmap of a range we mapped fails only if the mapping is sealed; the caller checks that first.
        _ = Interop.munmap(mapping.ReservationStart, mapping.ReservationLength);
        mapping.CloseFd();
    }

    private static string MemfdName(string poolName)
    {
        string name = MemfdPrefix + poolName;
        if (Encoding.UTF8.GetByteCount(name) <= Interop.MemfdMaxNameBytes)
        {
            return name;
        }

        // Keep the name within the kernel's limit without splitting a UTF-16 surrogate pair.
        int cut = Math.Min(name.Length, Interop.MemfdMaxNameBytes / 3);
        if (char.IsHighSurrogate(name[cut - 1]))
        {
            cut--;
        }

        return name[..cut];
    }

    [System.Diagnostics.Conditional("DEBUG")]
    private static void AssertPageMultiple(nuint length) =>
        System.Diagnostics.Debug.Assert(length != 0 && length % (nuint)PageSize == 0, "length must be a non-zero multiple of the page size");
}
