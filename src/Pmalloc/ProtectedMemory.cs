namespace Pmalloc;

/// <summary>
/// Hardened usercopy for pool memory: checks, before a copy, that a range read from a pool lies inside
/// one live allocation, and that a range written does not touch protected memory. Any address in the
/// process can be checked; the process-wide registry of chunks resolves it in O(log chunks) plus a short
/// bitmap scan, without a global lock.
/// </summary>
/// <remarks>
/// A range of length 0 moves no bytes and is never refused (as the kernel's <c>check_object_size</c>).
/// A destroyed pool's former range is foreign memory again (it is unmapped, and may be reused), except a
/// sealed pool's, which stays mapped read-only until the process exits: both checks refuse that one
/// with an <see cref="ObjectDisposedException"/>.
/// </remarks>
public static class ProtectedMemory
{
    /// <summary>Which optional kernel features this process has (probed once, then cached).</summary>
    public static PlatformSupport Support => KernelFeatures.Support;

    /// <summary>
    /// Checks that [<paramref name="address"/>, +<paramref name="length"/>) may be read: if it touches any
    /// pool, it must lie inside one live allocation, and that allocation is returned. A range that touches no
    /// pool passes and returns <c>default</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The range starts outside every live allocation of a pool: in free granules (never allocated, or freed), in an allocation's padding, or in a guard page.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The range starts in an allocation and crosses its end (into padding, the next allocation, or a guard page), runs into a pool from outside, or wraps around the address space.</exception>
    /// <exception cref="ObjectDisposedException">The range is in a destroyed sealed pool.</exception>
    public static AllocationInfo CheckRead(nint address, nuint length) => Check(address, length, write: false, owner: null, "read", out _);

    /// <summary>
    /// Checks that [<paramref name="address"/>, +<paramref name="length"/>) may be written: refuses a range
    /// that touches protected memory (the kernel's "trying to write to pmalloc object"), so that code filling
    /// a caller's buffer can refuse a protected one with an exception instead of stopping the process.
    /// A range in a writable pool must also lie inside one live allocation; a range that touches no pool passes.
    /// </summary>
    /// <exception cref="InvalidOperationException">The range touches a protected pool's memory.</exception>
    /// <exception cref="ArgumentException">The range touches a writable pool outside a live allocation.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The range crosses the end of a writable pool's allocation, or wraps around the address space.</exception>
    /// <exception cref="ObjectDisposedException">The range is in a destroyed sealed pool.</exception>
    public static void CheckWrite(nint address, nuint length) => Check(address, length, write: true, owner: null, "write", out _);

    /// <summary>Finds the live allocation that holds <paramref name="address"/>, in any pool. Never throws.</summary>
    public static bool TryGetAllocation(nint address, out AllocationInfo info)
    {
        while (true)
        {
            ChunkRegistry.Entry[] entries = ChunkRegistry.Snapshot;
            int i = ChunkRegistry.FirstEndingAfter(entries, address);
            if (i == entries.Length || unchecked((nuint)entries[i].Start > (nuint)address) || entries[i].Chunk is not { } chunk || !chunk.Contains(address))
            {
                info = default;
                return false;
            }

            ProtectablePool.Lookup found = entries[i].Pool.FindForCheck(chunk, address, lockHeld: false, out info);
            if (found != ProtectablePool.Lookup.Stale || entries == ChunkRegistry.Snapshot)
            {
                bool live = found != ProtectablePool.Lookup.Stale && info.Size != 0 && address < info.End;
                info = live ? info : default;
                return live;
            }
        }
    }

    /// <summary>
    /// The one implementation of the usercopy check, for <see cref="CheckRead"/>, <see cref="CheckWrite"/> and the
    /// pools' own checked copies. With an <paramref name="owner"/>, the range must also be in that pool, and the caller
    /// holds the owner's lock (<c>Read</c>, the write-rare calls). <paramref name="holderChunk"/> is the chunk that holds the
    /// range (null for length 0 or a range that touches no pool), so that a caller need not look it up again.
    /// </summary>
    internal static AllocationInfo Check(nint address, nuint length, bool write, ProtectablePool? owner, string operation, out Chunk? holderChunk)
    {
        holderChunk = null;
        if (length == 0)
        {
            return default;
        }

        // Compared as unsigned: an address is a position in the address space, whatever its sign as an nint.
        nuint first = unchecked((nuint)address);
        nuint last = unchecked(first + (length - 1));
        if (last < first)
        {
            ThrowHelper.ThrowWraps(owner?.Name, operation, address, length);
        }

        while (true)
        {
            ChunkRegistry.Entry[] entries = ChunkRegistry.Snapshot;
            int i = ChunkRegistry.FirstEndingAfter(entries, address);
            if (i == entries.Length || unchecked((nuint)entries[i].Start) > last)
            {
                // Touches no pool.
                return owner is null ? default : throw ThrowHelper.NotOwned(owner.Name, operation, address);
            }

            ChunkRegistry.Entry entry = entries[i];
            ProtectablePool pool = entry.Pool;
            if (owner is not null && !ReferenceEquals(pool, owner))
            {
                throw ThrowHelper.NotOwned(owner.Name, operation, address);
            }

            Chunk chunk = entry.Chunk ?? throw ThrowHelper.Retired(pool.Name, operation, address, length);
            if (write && pool.MemoryIsReadOnly)
            {
                // Any byte of protected memory (guard pages included) refuses a write, wherever the range starts.
                AllocationInfo within = default;
                _ = chunk.Contains(address) && pool.FindForCheck(chunk, address, owner is not null, out within) == ProtectablePool.Lookup.ReadOnly;
                ThrowHelper.ThrowWriteProtected(pool.Name, address, length, within);
            }

            if (!chunk.Contains(address))
            {
                if (entries != ChunkRegistry.Snapshot)
                {
                    continue;
                }

                // Starts before the usable memory (outside the pool, or in the leading guard page) or after it (the trailing guard page).
                ThrowHelper.ThrowOutsideChunk(pool.Name, operation, address, length, chunk.Start, first < unchecked((nuint)entry.Start));
            }

            ProtectablePool.Lookup found = pool.FindForCheck(chunk, address, owner is not null, out AllocationInfo holder);
            if (found == ProtectablePool.Lookup.Stale)
            {
                // The chunk was unmapped since this snapshot: look again, or it is gone for good.
                if (entries != ChunkRegistry.Snapshot)
                {
                    continue;
                }

                return owner is null ? default : throw ThrowHelper.NotOwned(owner.Name, operation, address);
            }

            if (write && found == ProtectablePool.Lookup.ReadOnly)
            {
                ThrowHelper.ThrowWriteProtected(pool.Name, address, length, holder);
            }

            if (holder.Size == 0)
            {
                ThrowHelper.ThrowNotAllocated(pool.Name, operation, address);
            }

            if (address >= holder.End)
            {
                // In the padding after an allocation's requested size: no allocation's bytes.
                ThrowHelper.ThrowPastEnd(pool.Name, operation, address, holder);
            }

            if (last >= unchecked((nuint)holder.End))
            {
                ThrowHelper.ThrowOutOfBounds(pool.Name, operation, address, length, holder);
            }

            holderChunk = chunk;
            return holder;
        }
    }
}
