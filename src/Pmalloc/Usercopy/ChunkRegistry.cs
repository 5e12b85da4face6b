using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// The process-wide registry of chunks, so that any address resolves to its pool, chunk and allocation (the usercopy
/// checks in <see cref="ProtectedMemory"/>). It learns about chunks only through <see cref="ChunkEvents"/>.
/// </summary>
/// <remarks>
/// <para><b>Shape.</b> An immutable <see cref="Table"/>, replaced as a whole under <see cref="s_writeLock"/>. Readers take no
/// lock: they load the current table once. A table has two parts: a large one in Eytzinger order (the sorted entries laid
/// out as an implicit binary tree, so a search is a branch-free loop over one array that the CPU can prefetch), and a
/// small sorted one of the newest entries. Adding a chunk copies only the small part; when it is full, both are merged
/// into a new large part. Removing one marks its entry dead (every table that holds it sees that); dead entries are
/// dropped at the next merge, which also runs when they outnumber the live ones. So a pool's creation costs amortized
/// O(√n)-ish work, never a copy of the whole registry.</para>
/// <para><b>Invariants.</b> Live entries never overlap (they are mapped ranges). Within each part, entries never overlap at
/// all: a part is built only from live entries, and entries only ever die.</para>
/// <para><b>Safe reads of the bitmaps.</b> A reader may hold an old table whose chunk has since been unmapped. What makes
/// that safe depends on the pool's state, read once by the reader: a <i>writable</i> pool's bitmaps change and are freed
/// under its lock, so the reader takes that lock and checks <see cref="Chunk.IsLive"/> before it looks. A <i>protected</i>
/// pool's bitmaps never change again, so the reader takes no lock: it announces itself on the chunk first
/// (<see cref="Chunk.TryReadWithoutLock"/>, which also tells it the chunk was retired). <c>Dispose</c> retires the chunk,
/// then frees its bitmaps at once if no reader ever announced itself, else leaves them to a finalizer (of an object only
/// the chunk holds), which cannot run while a reader still holds the chunk.</para>
/// <para><b>Sealed pools.</b> A sealed chunk can never be unmapped, so when its pool is destroyed its entry is replaced
/// by a <i>retired</i> one (no chunk): the range is still read-only memory that nothing else can ever occupy, and the
/// checks keep refusing it. An unsealed destroyed pool's range is unmapped and may be reused by anything: it is
/// forgotten, and counts as foreign memory again.</para>
/// </remarks>
internal static class ChunkRegistry
{
    /// <summary>The small part is merged into the large one when it reaches this many entries.</summary>
    private const int RecentLimit = 64;

    private static readonly Lock s_writeLock = new();

    /// <summary>Dead entries still held by the current table. Guarded by <see cref="s_writeLock"/>.</summary>
    private static int s_dead;

    private static Table s_table = Table.Empty;

    /// <summary>The current table. Immutable but for the entries' <see cref="Entry.Dead"/> flags: read it once per lookup.</summary>
    internal static Table Current => Volatile.Read(ref s_table);

    /// <summary>
    /// Every chunk mapped now, with its pool, from the current table (retired and dead entries left out): what the meter
    /// measures. A snapshot taken without a lock, like any lookup.
    /// </summary>
    internal static IEnumerable<(PoolCore Pool, Chunk Chunk)> MappedChunks()
    {
        Table table = Current;
        foreach (Entry[] part in new[] { table.Sorted, table.Recent })
        {
            foreach (Entry entry in part)
            {
                if (entry.Chunk is { } chunk)
                {
                    yield return (entry.Pool, chunk);
                }
            }
        }
    }

    /// <summary>Subscribes the registry to the pool notifications when the assembly loads, before any chunk is mapped.</summary>
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries", Justification = "The registry must hear about every chunk, and the pool layer must not know it.")]
    internal static void Subscribe() => ChunkEvents.Subscribe(new Observer());

    /// <summary>Registers a freshly mapped chunk, before any address in it is handed out.</summary>
    private static void Add(Entry entry)
    {
        Table old = s_table;
        Entry[] recent = Insert(old.Recent, entry);
        Volatile.Write(ref s_table, recent.Length >= RecentLimit ? Rebuild(old.Sorted, recent) : new Table(old, recent));
    }

    /// <summary>
    /// The live entry of <paramref name="chunk"/>, or null if it has none (its registration failed): found by address in
    /// the current table, as live entries never overlap. Under <see cref="s_writeLock"/>.
    /// </summary>
    private static Entry? EntryOf(Chunk chunk)
    {
        Entry? entry = s_table.FirstEndingAfter(unchecked((nuint)chunk.Mapping.ReservationStart));
        return entry is not null && ReferenceEquals(entry.Chunk, chunk) ? entry : null;
    }

    /// <summary>Forgets one chunk's entry, before the chunk is unmapped.</summary>
    private static void Kill(Entry entry)
    {
        entry.Kill();
        s_dead++;
        Table table = s_table;
        if (s_dead > RecentLimit && s_dead > (table.Sorted.Length + table.Recent.Length) / 2)
        {
            Volatile.Write(ref s_table, Rebuild(table.Sorted, table.Recent));
        }
    }

    /// <summary>A new table with one large part made of the live entries of both parts.</summary>
    private static Table Rebuild(Entry[] sorted, Entry[] recent)
    {
        List<Entry> merged = new(sorted.Length + recent.Length);
        int i = 0, j = 0;
        while (i < sorted.Length || j < recent.Length)
        {
            Entry next = j == recent.Length || (i < sorted.Length && sorted[i].Start < recent[j].Start) ? sorted[i++] : recent[j++];
            if (!next.Dead)
            {
                merged.Add(next);
            }
        }

        s_dead = 0;
        return new Table([.. merged]);
    }

    /// <summary>A copy of the sorted <paramref name="entries"/> without the dead ones, with <paramref name="entry"/> in its place.</summary>
    private static Entry[] Insert(Entry[] entries, Entry entry)
    {
        int live = 1;
        foreach (Entry e in entries)
        {
            live += e.Dead ? 0 : 1;
        }

        s_dead -= entries.Length + 1 - live;
        Entry[] next = new Entry[live];
        int n = 0;
        bool placed = false;
        foreach (Entry e in entries)
        {
            if (e.Dead)
            {
                continue;
            }

            if (!placed && entry.Start < e.Start)
            {
                next[n++] = entry;
                placed = true;
            }

            next[n++] = e;
        }

        if (!placed)
        {
            next[n] = entry;
        }

        return next;
    }

    internal sealed class Entry(nint start, nint end, Chunk? chunk, PoolCore pool)
    {
        private volatile Chunk? _chunk = chunk;

        /// <summary>First byte of the reservation.</summary>
        internal nint Start { get; } = start;

        /// <summary>One past its last byte.</summary>
        internal nint End { get; } = end;

        /// <summary>
        /// The chunk; null for a retired entry (a destroyed sealed pool's), and once the entry is dead, so that a dead entry
        /// kept by a table until its next merge does not keep the chunk (and its bitmaps) from being collected. Read it once.
        /// </summary>
        internal Chunk? Chunk => _chunk;

        /// <summary>A destroyed sealed pool's range: still mapped read-only, holding no allocation.</summary>
        internal bool IsRetired { get; } = chunk is null;

        /// <summary>The pool that owns (or owned) it.</summary>
        internal PoolCore Pool { get; } = pool;

        /// <summary>Set, for good, when the chunk is unmapped or retired: every table that holds the entry then skips it.</summary>
        internal bool Dead => _dead;

        private volatile bool _dead;

        /// <summary>Marks the entry dead and lets go of the chunk.</summary>
        internal void Kill()
        {
            _dead = true;
            _chunk = null;
        }
    }

    /// <summary>One immutable version of the registry (see the class remarks).</summary>
    internal sealed class Table
    {
        internal static readonly Table Empty = new([]);

        /// <summary>The large part's entries' ends in Eytzinger order, 1-based (slot 0 unused): what the search compares.</summary>
        private readonly nuint[] _ends;

        /// <summary>The large part's entries, in the same order as <see cref="_ends"/>.</summary>
        private readonly Entry[] _tree;

        /// <summary>For each Eytzinger slot, the entry's index in <see cref="Sorted"/>.</summary>
        private readonly int[] _rank;

        internal Table(Entry[] sorted)
        {
            Sorted = sorted;
            Recent = [];
            _ends = new nuint[sorted.Length + 1];
            _tree = new Entry[sorted.Length + 1];
            _rank = new int[sorted.Length + 1];
            int next = 0;
            Fill(1, ref next);
        }

        internal Table(Table large, Entry[] recent)
        {
            Sorted = large.Sorted;
            _ends = large._ends;
            _tree = large._tree;
            _rank = large._rank;
            Recent = recent;
        }

        /// <summary>The large part's entries, sorted by address.</summary>
        internal Entry[] Sorted { get; }

        /// <summary>The newest entries, sorted by address.</summary>
        internal Entry[] Recent { get; }

        /// <summary>
        /// The live (or retired) entry with the lowest start among those that end after <paramref name="address"/>, or null:
        /// the entry that holds the address if any does, else the first one above it.
        /// </summary>
        internal Entry? FirstEndingAfter(nuint address)
        {
            Entry? best = null;
            int n = Sorted.Length;
            if (n != 0)
            {
                // Eytzinger lower bound: descend left while the node ends after the address, right otherwise; the answer is
                // the last node where the search went left (Khuong and Morin, "Array layouts for comparison-based searching").
                ref nuint ends = ref MemoryMarshal.GetArrayDataReference(_ends);
                int k = 1;
                while (k <= n)
                {
                    k = (2 * k) + (Unsafe.Add(ref ends, k) <= address ? 1 : 0);
                }

                k >>= BitOperations.TrailingZeroCount(~(uint)k) + 1;
                if (k != 0)
                {
                    Entry found = _tree[k];
                    if (!found.Dead && unchecked((nuint)found.Start) <= address)
                    {
                        // Live entries never overlap: this is the one.
                        return found;
                    }

                    best = found.Dead ? FirstLive(Sorted, _rank[k]) : found;
                }
            }

            Entry? recent = FirstLive(Recent, LowerBound(Recent, address));
            return best is null || (recent is not null && recent.Start < best.Start) ? recent : best;
        }

        /// <summary>The first entry from index <paramref name="from"/> on that is not dead, or null.</summary>
        private static Entry? FirstLive(Entry[] sorted, int from)
        {
            for (int i = from; i < sorted.Length; i++)
            {
                if (!sorted[i].Dead)
                {
                    return sorted[i];
                }
            }

            return null;
        }

        /// <summary>The index of the first entry of <paramref name="sorted"/> that ends after <paramref name="address"/>.</summary>
        private static int LowerBound(Entry[] sorted, nuint address)
        {
            int lo = 0, hi = sorted.Length;
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (unchecked((nuint)sorted[mid].End) <= address)
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

        /// <summary>Lays the sorted entries out in Eytzinger order by an in-order walk of the implicit tree.</summary>
        private void Fill(int k, ref int next)
        {
            if (k < _ends.Length)
            {
                Fill(2 * k, ref next);
                _tree[k] = Sorted[next];
                _ends[k] = unchecked((nuint)Sorted[next].End);
                _rank[k] = next++;
                Fill((2 * k) + 1, ref next);
            }
        }
    }

    private sealed class Observer : ChunkObserver
    {
        internal override void OnChunkEvent(in ChunkEvent e)
        {
            if (e.Chunk is not { } chunk)
            {
                return;
            }

            lock (s_writeLock)
            {
                switch (e.Kind)
                {
                    case ChunkEventKind.ChunkMapped:
                        Add(new Entry(chunk.Mapping.ReservationStart, chunk.Mapping.ReservationStart + (nint)chunk.Mapping.ReservationLength, chunk, e.Pool));
                        break;
                    case ChunkEventKind.ChunkUnmapping when EntryOf(chunk) is { } gone:
                        Kill(gone);
                        break;
                    case ChunkEventKind.ChunkRetired when EntryOf(chunk) is { } sealedEntry:
                        // The range stays mapped read-only for good: a retired entry keeps refusing it.
                        Kill(sealedEntry);
                        Add(new Entry(sealedEntry.Start, sealedEntry.End, null, e.Pool));
                        break;
                }
            }
        }
    }
}
