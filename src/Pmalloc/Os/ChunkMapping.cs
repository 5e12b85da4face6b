using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// One chunk's mapping, as the OS layer made it: <see cref="Length"/> usable bytes at <see cref="Start"/>, backed by
/// [<see cref="BackingOffset"/>, +<see cref="Length"/>) of a memory file (<see cref="Backing"/>: a memfd on Linux, a
/// pagefile-backed section on Windows), optionally between two
/// inaccessible guard pages that belong to the same reservation (<see cref="ReservationStart"/>,
/// <see cref="ReservationLength"/>). Created and changed only by <see cref="OsMemory"/>; it knows no pool.
/// </summary>
/// <remarks>
/// <para>Where a chunk lives is <see cref="Backing"/> + <see cref="BackingOffset"/> + <see cref="Length"/>: a writer that
/// receives the descriptor maps that range and sees the chunk's bytes. Every chunk of a pool shares the pool's memfd
/// (<see cref="Shared"/>); a secret chunk has a <c>memfd_secret</c> of its own at offset 0. On Windows each chunk has a
/// section of its own (<see cref="Shared"/> is null), guard pages included, so the chunk starts one page into it.</para>
/// <para>There is deliberately no finalizer: addresses handed out by a pool are raw pointers the GC cannot see, so unmapping
/// from a finalizer would turn a forgotten pool into a use-after-free. A pool that is never disposed keeps its memory
/// until the process exits. The backing is a <see cref="SafeHandle"/> (<see cref="SafeFdHandle"/>, <see cref="SafeSectionHandle"/>):
/// closing it waits for calls in flight.</para>
/// </remarks>
internal sealed class ChunkMapping
{
    private bool _ownBackingSealed;

    internal ChunkMapping(SafeHandle backing, nint reservationStart, nuint reservationLength, nint start, nuint length, ChunkFlags flags)
    {
        Backing = backing;
        Flags = flags;
        ReservationStart = reservationStart;
        ReservationLength = reservationLength;
        Start = start;
        Length = length;
    }

    /// <summary>The memory file behind the mapping (the pool's memfd, the chunk's own secret one, or its Windows section), closed once the pool no longer writes through it.</summary>
    internal SafeHandle Backing { get; }

    /// <summary>The backing as the Linux layer uses it: the memfd.</summary>
    internal SafeFdHandle Fd => (SafeFdHandle)Backing;

    /// <summary>The backing as the Windows layer uses it: the section.</summary>
    internal SafeSectionHandle Section => (SafeSectionHandle)Backing;

    /// <summary>The byte offset of <see cref="Start"/> in <see cref="Backing"/>.</summary>
    internal long BackingOffset { get; init; }

    /// <summary>The pool's memory file this chunk is a range of; null for a secret chunk and on Windows, where the backing is the chunk's own.</summary>
    internal PoolBacking? Shared { get; init; }

    /// <summary>The guard pages are part of the chunk's own mapping, made inaccessible by <c>MADV_GUARD_INSTALL</c>: one VMA, not three.</summary>
    internal bool GuardsInstalled { get; init; }

    /// <summary>The VMAs the chunk takes, as counted against <c>vm.max_map_count</c> (<see cref="MappingBudget"/>).</summary>
    internal int Vmas { get; init; }

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

    /// <summary>
    /// Can a hole be punched in the chunk's backing (<see cref="OsMemory.TryPunch"/>, <see cref="OsMemory.TryRemove"/>)? Not
    /// in secret memory, and not on Windows, whose sections take none: there a wipe is stores of zeros.
    /// </summary>
    internal bool TakesHoles => !IsSecret && !OperatingSystem.IsWindows();

    /// <summary>Windows: the chunk is registered with <c>WerRegisterExcludedMemoryBlock</c>, and unregistered when it is unmapped.</summary>
    internal bool IsExcludedFromErrorReports { get; set; }

    /// <summary>Backed by secret memory (Linux: <c>memfd_secret</c>).</summary>
    internal bool IsSecret => (Flags & ChunkFlags.SecretMemory) != 0;

    /// <summary>The whole reservation is sealed: it can never be unmapped, remapped or made writable again.</summary>
    internal bool IsSealed { get; set; }

    /// <summary>The backing can no longer be written: memfd <c>F_SEAL_FUTURE_WRITE</c> (on the pool's file), or the secret fd closed.</summary>
    internal bool IsBackingSealed
    {
        get => Shared?.IsWriteSealed ?? _ownBackingSealed;
        set
        {
            if (Shared is { } shared)
            {
                shared.IsWriteSealed = value;
            }
            else
            {
                _ownBackingSealed = value;
            }
        }
    }

    /// <summary>The range the attributes of the chunk's mapping apply to: the whole reservation where it is one VMA, else the usable part.</summary>
    internal (nint Start, nuint Length) AttributeRange => GuardsInstalled ? (ReservationStart, ReservationLength) : (Start, Length);
}
