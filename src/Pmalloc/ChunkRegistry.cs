namespace Pmalloc;

/// <summary>
/// The process-wide registry of chunks, so that any address resolves to its pool, chunk and allocation
/// (the usercopy checks in <see cref="ProtectedMemory"/>).
/// </summary>
/// <remarks>
/// <para><b>Shape.</b> An immutable array of entries sorted by address, one per chunk reservation (guard
/// pages included), replaced as a whole under <see cref="s_writeLock"/> when a chunk is mapped or
/// unmapped. Readers take no lock: they load the current array once and binary-search it, so a lookup
/// is O(log chunks) and never waits for a writer. Writers copy the array: chunks are few (pools grow
/// geometrically) and mapping one is already a system call.</para>
/// <para><b>Safe reads of the bitmaps.</b> A reader may hold an old array whose chunk has since been
/// unmapped. What makes that safe depends on the pool's state, read once by the reader:
/// a <i>writable</i> pool's bitmaps change and are freed under its lock, so the reader takes that lock and
/// looks the address up in the pool's own chunk list, never in the old entry
/// (<see cref="ProtectablePool.FindForCheck"/>). A <i>protected</i> pool's bitmaps never change again and
/// are never freed eagerly: <c>Dispose</c> removes the entries here first, then leaves the bitmaps to
/// the chunk's finalizer, which cannot run while a reader still holds the chunk. So a lock-free reader
/// never touches freed memory, whatever it races.</para>
/// <para><b>Sealed pools.</b> A sealed chunk can never be unmapped, so when its pool is destroyed its entry
/// stays as a <i>retired</i> one (no chunk): the range is still read-only memory that nothing else can
/// ever occupy, and the checks keep refusing it. An unsealed destroyed pool's range is unmapped and may be
/// reused by anything: it is forgotten, and counts as foreign memory again.</para>
/// </remarks>
internal static class ChunkRegistry
{
    /// <summary>One chunk's reservation, [<see cref="Start"/>, <see cref="End"/>), guard pages included.</summary>
    /// <param name="Start">First byte of the reservation.</param>
    /// <param name="End">One past its last byte.</param>
    /// <param name="Chunk">The chunk, or null for a retired entry (a destroyed sealed pool's).</param>
    /// <param name="Pool">The pool that owns (or owned) it.</param>
    internal readonly record struct Entry(nint Start, nint End, Chunk? Chunk, ProtectablePool Pool);

    private static readonly Lock s_writeLock = new();

    /// <summary>Sorted by <see cref="Entry.Start"/>; never mutated once published.</summary>
    private static Entry[] s_entries = [];

    /// <summary>The current entries, sorted by address. Immutable: read it once per lookup.</summary>
    internal static Entry[] Snapshot => Volatile.Read(ref s_entries);

    /// <summary>Registers a freshly mapped chunk, before any address in it is handed out.</summary>
    internal static void Add(ProtectablePool pool, Chunk chunk)
    {
        Entry entry = new(chunk.Mapping.ReservationStart, chunk.Mapping.ReservationStart + (nint)chunk.Mapping.ReservationLength, chunk, pool);
        lock (s_writeLock)
        {
            Entry[] old = s_entries;
            int index = FirstEndingAfter(old, entry.Start);
            Entry[] next = new Entry[old.Length + 1];
            Array.Copy(old, next, index);
            next[index] = entry;
            Array.Copy(old, index, next, index + 1, old.Length - index);
            Volatile.Write(ref s_entries, next);
        }
    }

    /// <summary>Forgets one chunk, before it is unmapped.</summary>
    internal static void Remove(Chunk chunk) => Replace(e => ReferenceEquals(e.Chunk, chunk), retire: false);

    /// <summary>Forgets every chunk of a pool being destroyed, before they are unmapped; sealed ones stay as retired entries.</summary>
    internal static void RemovePool(ProtectablePool pool) => Replace(e => ReferenceEquals(e.Pool, pool) && e.Chunk is not null, retire: true);

    /// <summary>The index of the first entry that ends after <paramref name="address"/>, or <c>entries.Length</c>.</summary>
    internal static int FirstEndingAfter(Entry[] entries, nint address)
    {
        int lo = 0, hi = entries.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (unchecked((nuint)entries[mid].End <= (nuint)address))
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private static void Replace(Func<Entry, bool> match, bool retire)
    {
        lock (s_writeLock)
        {
            List<Entry> next = new(s_entries.Length);
            foreach (Entry e in s_entries)
            {
                if (!match(e))
                {
                    next.Add(e);
                }
                else if (retire && e.Chunk!.Mapping.IsSealed)
                {
                    next.Add(e with { Chunk = null });
                }
            }

            Volatile.Write(ref s_entries, next.ToArray());
        }
    }
}
