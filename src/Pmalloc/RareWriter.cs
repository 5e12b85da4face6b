using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// The write-rare path: how bytes get into a read-only chunk without its public mapping ever becoming writable,
/// not even for a moment, so no other thread can race a window (Kees Cook's objection in the pmalloc thread).
/// </summary>
/// <remarks>
/// <para>Three ways, all through the chunk's memfd (file offset = address - chunk start):</para>
/// <list type="bullet">
/// <item><see cref="Write"/> and <see cref="Fill"/> call <c>pwrite</c>: the kernel writes the page itself, and no writable
/// mapping exists anywhere, as XNU writes its read-only zones through the physical aperture.</item>
/// <item><see cref="Publish"/> needs one atomic store, which <c>pwrite</c> does not promise: it maps a private writable
/// alias of the one page that holds the slot at an address the kernel chooses, stores, and unmaps before returning.</item>
/// <item><see cref="Aliases"/> (a batch) maps one alias per touched chunk, once, and unmaps them all when the batch ends.</item>
/// </list>
/// <para>Callers hold the pool's lock and have checked the target range and that the memfd is still open: the lock is
/// what keeps <c>Dispose</c> from closing the fd (whose number the process could then reuse) in the middle of a write.</para>
/// </remarks>
internal static unsafe class RareWriter
{
    /// <summary>Copies <paramref name="source"/> to <paramref name="target"/> with <c>pwrite</c>. The source must not overlap the target.</summary>
    internal static void Write(string pool, Chunk chunk, nint target, ReadOnlySpan<byte> source)
    {
        fixed (byte* s = source)
        {
            PwriteAll(pool, chunk, target, s, (nuint)source.Length);
        }
    }

    /// <summary>
    /// Does <paramref name="source"/> overlap [<paramref name="target"/>, +length)? Then the caller copies it out first: the kernel
    /// and an alias both copy forwards, and an alias has another address, so <c>memmove</c> could not see the overlap.
    /// </summary>
    internal static bool Overlaps(ReadOnlySpan<byte> source, nint target)
    {
        nint from = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(source));
        return from < target + source.Length && target < from + source.Length;
    }

    /// <summary>Sets <paramref name="length"/> bytes at <paramref name="target"/> to <paramref name="value"/> with <c>pwrite</c>.</summary>
    internal static void Fill(string pool, Chunk chunk, nint target, byte value, nuint length)
    {
        const int BufferSize = 4096;
        byte* buffer = stackalloc byte[BufferSize];
        new Span<byte>(buffer, BufferSize).Fill(value);
        while (length > 0)
        {
            nuint piece = Math.Min(length, BufferSize);
            PwriteAll(pool, chunk, target, buffer, piece);
            target += (nint)piece;
            length -= piece;
        }
    }

    /// <summary>
    /// Stores <paramref name="value"/> at the pointer-aligned <paramref name="slot"/> in one atomic, release-ordered store,
    /// through a private alias of the slot's page that is unmapped before returning.
    /// </summary>
    internal static void Publish(string pool, Chunk chunk, nint slot, nint value)
    {
        Debug.Assert(slot % sizeof(nint) == 0, "an aligned slot never crosses a page");
        nuint page = (nuint)OsMemory.PageSize;
        nuint offset = (nuint)(slot - chunk.Start);
        nuint pageOffset = offset & ~(page - 1);
        nint alias = OsMemory.MapAlias(pool, chunk.Mapping, pageOffset, page);
        try
        {
            Volatile.Write(ref *(nint*)(alias + (nint)(offset - pageOffset)), value);
        }
        finally
        {
            OsMemory.UnmapAlias(alias, page);
        }
    }

    /// <summary>
    /// Wipes every byte of <paramref name="chunk"/> ever handed out, through a private alias, without touching the public
    /// mapping's protection. False if the memfd was given up or the alias cannot be mapped: the caller then falls back.
    /// </summary>
    internal static bool TryWipeUsed(Chunk chunk)
    {
        nuint used = chunk.UsedBytes;
        if (used == 0)
        {
            return true;
        }

        nuint length = OsMemory.RoundUpToPages(used);
        nint alias = OsMemory.TryMapAlias(chunk.Mapping, 0, length);
        if (alias == 0)
        {
            return false;
        }

        OsMemory.Wipe(alias, used);
        OsMemory.UnmapAlias(alias, length);
        return true;
    }

    private static void PwriteAll(string pool, Chunk chunk, nint target, byte* source, nuint length)
    {
        Debug.Assert(chunk.Contains(target) && length <= (nuint)(chunk.End - target));
        if (chunk.Mapping.IsSecret)
        {
            // A memfd_secret takes no pwrite (ESPIPE): copy through a private alias of the touched pages instead.
            nuint first = (nuint)(target - chunk.Start) & ~((nuint)OsMemory.PageSize - 1);
            nuint span = OsMemory.RoundUpToPages((nuint)(target - chunk.Start) + length) - first;
            nint alias = OsMemory.MapAlias(pool, chunk.Mapping, first, span);
            Buffer.MemoryCopy(source, (void*)(alias + (target - chunk.Start) - (nint)first), length, length);
            OsMemory.UnmapAlias(alias, span);
            return;
        }

        int fd = chunk.Mapping.Fd;
        Debug.Assert(fd >= 0, "the write side was given up");
        long offset = target - chunk.Start;
        while (length > 0)
        {
            // pwrite to a memfd writes everything unless interrupted or out of memory; loop for the partial case anyway.
            nint written = Interop.pwrite(fd, source, length, offset);
            if (written < 0)
            {
                if (Interop.LastErrno == Interop.Errno.EINTR)
                {
                    continue;
                }

                Interop.ThrowLastError("pwrite", $"Pool '{pool}': cannot write {length} bytes at {ThrowHelper.Hex((nint)(chunk.Start + offset))}");
            }

            source += written;
            offset += written;
            length -= (nuint)written;
        }
    }

    /// <summary>
    /// The aliases of one batch: one private writable mapping of each touched chunk's whole memfd, mapped on first use and
    /// unmapped by <see cref="UnmapAll"/>. Used under the pool's lock.
    /// </summary>
    internal sealed class Aliases
    {
        // The last chunk used and its alias: a batch mostly writes to one chunk, so most writes skip the Dictionary,
        // and a batch that touches one chunk never allocates it.
        private Chunk? _lastChunk;
        private nint _lastAlias;

        /// <summary>Every chunk mapped but the last one used; allocated when a batch touches a second chunk.</summary>
        private Dictionary<Chunk, nint>? _others;

        /// <summary>How many aliases are mapped now.</summary>
        internal int Count => (_lastChunk is null ? 0 : 1) + (_others?.Count ?? 0);

        /// <summary>The alias address of <paramref name="target"/>, mapping the chunk's alias if this batch has none yet.</summary>
        internal nint AddressOf(string pool, Chunk chunk, nint target)
        {
            if (!ReferenceEquals(chunk, _lastChunk))
            {
                if (_others is null || !_others.Remove(chunk, out nint alias))
                {
                    alias = OsMemory.MapAlias(pool, chunk.Mapping, 0, chunk.Mapping.Length);
                }

                if (_lastChunk is not null)
                {
                    (_others ??= []).Add(_lastChunk, _lastAlias);
                }

                _lastChunk = chunk;
                _lastAlias = alias;
            }

            return _lastAlias + (target - chunk.Start);
        }

        /// <summary>The alias address of <paramref name="target"/> if its chunk's alias is mapped, else 0 (for the attack catalog).</summary>
        internal nint Peek(Chunk chunk, nint target) =>
            ReferenceEquals(chunk, _lastChunk) ? _lastAlias + (target - chunk.Start)
            : _others is not null && _others.TryGetValue(chunk, out nint alias) ? alias + (target - chunk.Start)
            : 0;

        internal void UnmapAll()
        {
            if (_lastChunk is not null)
            {
                OsMemory.UnmapAlias(_lastAlias, _lastChunk.Mapping.Length);
                _lastChunk = null;
                _lastAlias = 0;
            }

            if (_others is not null)
            {
                foreach ((Chunk chunk, nint alias) in _others)
                {
                    OsMemory.UnmapAlias(alias, chunk.Mapping.Length);
                }

                _others.Clear();
            }
        }
    }
}
