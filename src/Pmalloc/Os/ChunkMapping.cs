using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// One chunk's mapping, as the OS layer made it: <see cref="Length"/> usable bytes at <see cref="Start"/>, backed by a
/// memory file (<see cref="Backing"/>: a memfd on Linux, a pagefile-backed section on Windows), optionally between two
/// inaccessible guard pages that belong to the same reservation (<see cref="ReservationStart"/>, <see cref="ReservationLength"/>). Created and changed only by
/// <see cref="OsMemory"/>; it knows no pool.
/// </summary>
/// <remarks>
/// There is deliberately no finalizer: addresses handed out by a pool are raw pointers the GC cannot see, so unmapping
/// from a finalizer would turn a forgotten pool into a use-after-free. A pool that is never disposed keeps its memory
/// until the process exits. The backing is a <see cref="SafeHandle"/> (<see cref="SafeFdHandle"/>, <see cref="SafeSectionHandle"/>):
/// closing it waits for calls in flight.
/// </remarks>
internal sealed class ChunkMapping
{
    internal ChunkMapping(SafeHandle backing, nint reservationStart, nuint reservationLength, nint start, nuint length, ChunkFlags flags)
    {
        Backing = backing;
        Flags = flags;
        ReservationStart = reservationStart;
        ReservationLength = reservationLength;
        Start = start;
        Length = length;
    }

    /// <summary>The memory file behind the mapping (a memfd, or a Windows section), closed once the pool no longer writes through it.</summary>
    internal SafeHandle Backing { get; }

    /// <summary>The backing as the Linux layer uses it: the memfd.</summary>
    internal SafeFdHandle Fd => (SafeFdHandle)Backing;

    /// <summary>The backing as the Windows layer uses it: the section.</summary>
    internal SafeSectionHandle Section => (SafeSectionHandle)Backing;

    /// <summary>The byte offset of <see cref="Start"/> in <see cref="Backing"/> (0 on Linux, where the guard pages are no part of the memfd; one page on Windows, where they are).</summary>
    internal long BackingOffset { get; init; }

    /// <summary>Is the backing descriptor still open?</summary>
    internal bool HasBacking => !Backing.IsClosed;

    /// <summary>How the chunk was mapped.</summary>
    internal ChunkFlags Flags { get; }

    /// <summary>First byte of the reservation: the leading guard page, or <see cref="Start"/> without guards.</summary>
    internal nint ReservationStart { get; }

    /// <summary>Bytes of the whole reservation, guard pages included.</summary>
    internal nuint ReservationLength { get; }

    /// <summary>First byte of the usable memory (page-aligned).</summary>
    internal nint Start { get; }

    /// <summary>Usable bytes (a multiple of the OS page size).</summary>
    internal nuint Length { get; }

    internal bool HasGuardPages => ReservationStart != Start;

    /// <summary>
    /// Writes into this chunk once it is read-only go through the writer process (<see cref="OsWriter"/>), not the backing:
    /// secret memory takes no <c>pwrite</c>, and Windows has no write into a section but through a view.
    /// </summary>
    internal bool WritesThroughWriter => IsSecret || OperatingSystem.IsWindows();

    /// <summary>Backed by secret memory (Linux: <c>memfd_secret</c>).</summary>
    internal bool IsSecret => (Flags & ChunkFlags.SecretMemory) != 0;

    /// <summary>Windows: the chunk is registered with <c>WerRegisterExcludedMemoryBlock</c>, and unregistered when it is unmapped.</summary>
    internal bool IsExcludedFromErrorReports { get; set; }

    /// <summary>The whole reservation is sealed: it can never be unmapped, remapped or made writable again.</summary>
    internal bool IsSealed { get; set; }

    /// <summary>The backing can no longer be written: memfd <c>F_SEAL_FUTURE_WRITE</c>, or the secret fd closed.</summary>
    internal bool IsBackingSealed { get; set; }
}
