using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

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
    /// <exception cref="PlatformNotSupportedException">The process does not run on a supported OS.</exception>
    public static PlatformSupport Support
    {
        get
        {
            OsPlatform.EnsureSupported();
            return KernelFeatures.Support with { WriteRareAfterProtect = OsWriter.IsAvailable };
        }
    }

    /// <summary>
    /// Checks that [<paramref name="address"/>, +<paramref name="length"/>) may be read: if it touches any
    /// pool, it must lie inside one live allocation, and that allocation is returned. A range that touches no
    /// pool passes and returns <c>default</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The range starts outside every live allocation of a pool: in free granules (never allocated, or freed), in an allocation's padding, or in a guard page.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The range starts in an allocation and crosses its end (into padding, the next allocation, or a guard page), runs into a pool from outside, or wraps around the address space.</exception>
    /// <exception cref="ObjectDisposedException">The range is in a destroyed sealed pool.</exception>
    public static AllocationInfo CheckRead(nint address, nuint length) => Check(address, length, write: false, "read");

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
    public static void CheckWrite(nint address, nuint length) => Check(address, length, write: true, "write");

    /// <summary>Hands <see cref="CheckWrite"/> to the pool layer when the assembly loads, for <see cref="ProtectablePool.Read"/>'s destination.</summary>
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries", Justification = "The pool layer must check destinations with the registry without knowing it.")]
    internal static void RegisterWriteTargetCheck() => WriteTargetCheck.Register(static (address, length) => CheckWrite(address, length));

    /// <summary>Finds the live allocation that holds <paramref name="address"/>, in any pool. Never throws.</summary>
    public static bool TryGetAllocation(nint address, out AllocationInfo info)
    {
        while (true)
        {
            ChunkRegistry.Table table = ChunkRegistry.Current;
            ChunkRegistry.Entry? entry = table.FirstEndingAfter(unchecked((nuint)address));
            if (entry is null || entry.Start > address || entry.Chunk is not { } chunk || !chunk.Contains(address))
            {
                info = default;
                return false;
            }

            PoolCore pool = entry.Pool;
            bool found;
            nint start;
            nuint size;
            if (MayReadWithoutLock(pool, chunk))
            {
                found = chunk.TryFind(address, out start, out size);
                GC.KeepAlive(chunk);
            }
            else
            {
                // A writable pool, or a protected one being destroyed: its lock, and the chunk is found gone if it is.
                using (pool.Lock.EnterScope())
                {
                    if (!chunk.IsLive)
                    {
                        if (table != ChunkRegistry.Current)
                        {
                            continue;
                        }

                        info = default;
                        return false;
                    }

                    found = chunk.TryFind(address, out start, out size);
                }
            }

            bool live = found && address < start + (nint)size;
            info = live ? new AllocationInfo(pool.Name, start, size) : default;
            return live;
        }
    }

    /// <summary>
    /// The usercopy check for <see cref="CheckRead"/> and <see cref="CheckWrite"/>: the registry finds the chunk, and the
    /// chunk's constant-time lookup (through <see cref="RangeCheck"/>, the same check the pools' own calls use) finds the
    /// allocation.
    /// </summary>
    private static AllocationInfo Check(nint address, nuint length, bool write, string operation)
    {
        if (length == 0)
        {
            return default;
        }

        // Compared as unsigned: an address is a position in the address space, whatever its sign as an nint.
        RangeCheck.NoWrap(null, address, length, operation);
        nuint first = unchecked((nuint)address);
        nuint last = unchecked(first + (length - 1));
        while (true)
        {
            ChunkRegistry.Table table = ChunkRegistry.Current;
            ChunkRegistry.Entry? entry = table.FirstEndingAfter(first);
            if (entry is null || unchecked((nuint)entry.Start) > last)
            {
                // Touches no pool.
                return default;
            }

            PoolCore pool = entry.Pool;
            if (entry.IsRetired)
            {
                throw ThrowHelper.Retired(pool.Name, operation, address, length);
            }

            if (entry.Chunk is not { } chunk)
            {
                // Unmapped since this table was read: look again, or it is gone for good.
                if (table != ChunkRegistry.Current)
                {
                    continue;
                }

                return default;
            }

            if (write && pool.MemoryIsReadOnly)
            {
                // Any byte of protected memory (guard pages included) refuses a write, wherever the range starts.
                ThrowHelper.ThrowWriteProtected(pool.Name, address, length, HolderForMessage(pool, chunk, address));
            }

            if (!chunk.Contains(address))
            {
                if (table != ChunkRegistry.Current)
                {
                    continue;
                }

                // Starts before the usable memory (outside the pool, or in the leading guard page) or after it (the trailing guard page).
                ThrowHelper.ThrowOutsideChunk(pool.Name, operation, address, length, chunk.Start, first < unchecked((nuint)entry.Start));
            }

            if (MayReadWithoutLock(pool, chunk))
            {
                AllocationInfo holder = RangeCheck.InChunk(pool.Name, chunk, address, length, operation);
                GC.KeepAlive(chunk);
                return holder;
            }

            // A writable pool, or a protected one being destroyed: its lock, and the chunk is found gone if it is.
            using (pool.Lock.EnterScope())
            {
                if (chunk.IsLive)
                {
                    if (write && pool.MemoryIsReadOnly)
                    {
                        ThrowHelper.ThrowWriteProtected(pool.Name, address, length, default);
                    }

                    return RangeCheck.InChunk(pool.Name, chunk, address, length, operation);
                }
            }

            // The chunk was unmapped since this table was read: look again, or it is gone for good.
            if (table == ChunkRegistry.Current)
            {
                return default;
            }
        }
    }

    /// <summary>
    /// May this lookup read <paramref name="chunk"/>'s bitmaps without the pool's lock? Only if the pool is protected (its
    /// bitmaps never change again) and the chunk, told of the lookup, is still live: its bitmaps then stay allocated while
    /// the lookup holds it (<see cref="Chunk.TryReadWithoutLock"/>). Otherwise the lookup takes the lock.
    /// </summary>
    private static bool MayReadWithoutLock(PoolCore pool, Chunk chunk) => pool.State == PoolState.Protected && chunk.TryReadWithoutLock();

    /// <summary>The allocation at <paramref name="address"/> of a read-only pool, for a refused write's message, or default.</summary>
    private static AllocationInfo HolderForMessage(PoolCore pool, Chunk chunk, nint address)
    {
        if (!chunk.Contains(address) || !MayReadWithoutLock(pool, chunk) || !chunk.TryFind(address, out nint start, out nuint size))
        {
            return default;
        }

        GC.KeepAlive(chunk);
        return new AllocationInfo(pool.Name, start, size);
    }
}
