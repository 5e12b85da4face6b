namespace Pmalloc;

/// <summary>
/// The one bounds check: does [address, +length) lie inside one live allocation of a chunk? Built on the chunk's
/// constant-time lookup (<see cref="Chunk.TryFind"/>), and used by the pool's own checked calls (<c>Read</c>, the
/// write-rare calls) and by <see cref="ProtectedMemory"/>, so every caller refuses the same ranges with the same messages.
/// </summary>
internal static class RangeCheck
{
    /// <summary>
    /// Returns the allocation that holds the whole range, or throws: <see cref="ArgumentException"/> if the range starts in
    /// free granules or an allocation's padding, <see cref="ArgumentOutOfRangeException"/> if it crosses the allocation's end.
    /// <paramref name="address"/> lies in <paramref name="chunk"/>'s usable range and <paramref name="length"/> is not 0.
    /// The caller holds the pool's lock, or the pool is protected.
    /// </summary>
    internal static AllocationInfo InChunk(string pool, Chunk chunk, nint address, nuint length, string operation)
    {
        if (!chunk.TryFind(address, out nint start, out nuint size))
        {
            ThrowHelper.ThrowNotAllocated(pool, operation, address);
        }

        AllocationInfo holder = new(pool, start, size);
        if (address >= holder.End)
        {
            // In the padding after an allocation's requested size: no allocation's bytes.
            ThrowHelper.ThrowPastEnd(pool, operation, address, holder);
        }

        if (unchecked((nuint)address + (length - 1)) >= unchecked((nuint)holder.End))
        {
            ThrowHelper.ThrowOutOfBounds(pool, operation, address, length, holder);
        }

        return holder;
    }

    /// <summary>Throws if [address, +length) wraps around the end of the address space.</summary>
    internal static void NoWrap(string? pool, nint address, nuint length, string operation)
    {
        if (length != 0 && unchecked((nuint)address + (length - 1)) < unchecked((nuint)address))
        {
            ThrowHelper.ThrowWraps(pool, operation, address, length);
        }
    }
}
