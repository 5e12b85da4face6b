using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// One mapping plus its bitmap allocator (lib/genalloc.c with Igor Stoppa's "track beginning of
/// allocations" patch).
/// </summary>
/// <remarks>
/// <para>Every granule (the pool's alignment, 8 bytes to one page) has two bits: <c>11</c> the first
/// granule of an allocation, <c>10</c> a following granule, <c>00</c> free. The two bits of a granule
/// live at the same index of two bitmaps, <see cref="_used"/> (the first bit) and <see cref="_starts"/>
/// (the second), so every scan handles 64 granules per word; the two are interleaved word by word, so a
/// lookup finds both bits of a granule in one cache line. This is what lets
/// <c>Free</c> work without a size, reject interior and foreign pointers, and lets a bounds check find
/// the allocation that holds any address.</para>
/// <para>Granules at or above <see cref="Bump"/> have never been handed out since the chunk was last
/// empty: while <see cref="Holes"/> is 0 an allocation is a bump of that cursor (the fast path).
/// After a free below the cursor, first-fit over the bitmap fills the holes before the cursor moves.
/// <see cref="Avail"/> (genalloc's <c>avail</c>) lets the pool skip full chunks.</para>
/// <para>Invariants (checked by <see cref="ValidateInvariants"/>): <c>Avail = GranuleCount - used
/// granules</c>; <c>Holes = free granules below Bump</c>; nothing is used at or above Bump; every
/// free granule holds zeros (frees wipe), so a fresh allocation is already zeroed.</para>
/// <para>Not thread-safe: the owning pool serializes every call under its lock. Once the pool is
/// protected the bitmaps never change again, so lookups need no lock.</para>
/// </remarks>
internal sealed unsafe class Chunk
{
    /// <summary>Bitmap of granules in use (first bit of the pair).</summary>
    private readonly ulong* _used;

    /// <summary>Bitmap of granules that begin an allocation (second bit of the pair).</summary>
    private readonly ulong* _starts;

    /// <summary>Per granule, the bytes of padding after the requested size of the allocation that starts there
    /// (one byte each while granules are at most 256 bytes, two above), so bounds checks are exact to the byte.</summary>
    private readonly byte* _padding;

    private readonly int _words;

    /// <summary>The highest <see cref="Bump"/> before the cursor was last lowered (kept off the fast path).</summary>
    private int _highWater;

    private bool _released;

    /// <summary>Native bytes reported to the GC by <see cref="ReleaseBitmapsWhenUnreachable"/>, or 0.</summary>
    private long _pressure;

    internal Chunk(ChunkMapping mapping, int granuleShift)
    {
        Mapping = mapping;
        Start = mapping.Start;
        GranuleShift = granuleShift;
        GranuleCount = checked((int)(mapping.Length >> granuleShift));
        Avail = GranuleCount;
        _words = (GranuleCount + 63) >> 6;

        // The bitmaps live off the GC heap and outside the chunk: metadata is never in protected memory,
        // and a pool's footprint on the GC heap does not grow with its size.
        // Interleaved: word w of the used bitmap at [2w], of the starts bitmap at [2w + 1], so a lookup that needs
        // both bits of a granule touches one cache line.
        _used = (ulong*)NativeMemory.AllocZeroed((nuint)_words * 2, sizeof(ulong));
        _starts = _used + 1;
        _padding = (byte*)NativeMemory.AllocZeroed((nuint)GranuleCount, granuleShift > 8 ? 2u : 1u);
    }

    internal ChunkMapping Mapping { get; }

    /// <summary>First usable byte.</summary>
    internal nint Start { get; }

    /// <summary>One past the last usable byte.</summary>
    internal nint End => Start + (nint)Mapping.Length;

    internal int GranuleShift { get; }

    internal int GranuleCount { get; }

    /// <summary>Free granules in the chunk (genalloc's <c>avail</c>).</summary>
    internal int Avail { get; private set; }

    /// <summary>Granules at and above this index were never handed out since the chunk was last empty.</summary>
    internal int Bump { get; private set; }

    /// <summary>Free granules below <see cref="Bump"/>: 0 means the bump fast path applies.</summary>
    internal int Holes { get; private set; }

    /// <summary>The highest <see cref="Bump"/> ever reached: bytes above it were never written.</summary>
    internal int HighWater => Math.Max(_highWater, Bump);

    internal int LiveAllocations { get; private set; }

    internal bool IsEmpty => Avail == GranuleCount;

    internal bool Contains(nint address) => address >= Start && address < End;

    internal nint AddressOf(int granule) => Start + ((nint)granule << GranuleShift);

    internal int GranuleOf(nint address) => (int)((address - Start) >> GranuleShift);

    /// <summary>The fast path: take <paramref name="granules"/> from the bump cursor, if they fit and there are no holes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal nint TryBump(int granules, int padding)
    {
        int first = Bump;
        if (Holes != 0 || GranuleCount - first < granules)
        {
            return 0;
        }

        Bump = first + granules;
        Mark(first, granules, padding);
        return AddressOf(first);
    }

    /// <summary>First-fit in the holes below the cursor, then the cursor. Returns 0 if the chunk cannot hold the run.</summary>
    internal nint TryAllocate(int granules, int padding)
    {
        if (Avail < granules)
        {
            return 0;
        }

        if (Holes >= granules)
        {
            int found = FindFreeRun(granules, Bump);
            if (found >= 0)
            {
                Holes -= granules;
                Mark(found, granules, padding);
                return AddressOf(found);
            }
        }

        int first = Bump;
        if (GranuleCount - first < granules)
        {
            return 0;
        }

        Bump = first + granules;
        Mark(first, granules, padding);
        return AddressOf(first);
    }

    /// <summary>Is <paramref name="granule"/> the first granule of a live allocation (<c>11</c>)?</summary>
    internal bool IsStart(int granule) => TestBit(_starts, granule);

    /// <summary>Is <paramref name="granule"/> part of a live allocation (<c>11</c> or <c>10</c>)?</summary>
    internal bool IsUsed(int granule) => TestBit(_used, granule);

    /// <summary>The number of granules of the allocation that begins at <paramref name="first"/> (which must be a start).</summary>
    internal int LengthOf(int first)
    {
        Debug.Assert(IsStart(first));

        // The allocation continues while granules are "10": used and not a start.
        int index = first + 1;
        while (index < GranuleCount)
        {
            int word = index >> 6;
            ulong ends = (~Word(_used, word) | Word(_starts, word)) >> (index & 63);
            if (ends != 0)
            {
                return index + BitOperations.TrailingZeroCount(ends) - first;
            }

            index = (word + 1) << 6;
        }

        return GranuleCount - first;
    }

    /// <summary>The exact size in bytes requested for the allocation that begins at <paramref name="first"/>.</summary>
    internal nuint SizeOf(int first, int granules) => ((nuint)granules << GranuleShift) - (nuint)GetPadding(first);

    /// <summary>The first granule of the live allocation that holds <paramref name="granule"/>, or -1 if it is free.</summary>
    internal int FindStart(int granule)
    {
        if (!IsUsed(granule))
        {
            return -1;
        }

        // Walk back to the nearest "11": a used granule always has its start at or below it.
        int word = granule >> 6;
        ulong bits = Word(_starts, word) & (ulong.MaxValue >> (63 - (granule & 63)));
        while (bits == 0)
        {
            bits = Word(_starts, --word);
        }

        return (word << 6) + 63 - BitOperations.LeadingZeroCount(bits);
    }

    /// <summary>Frees the allocation that begins at <paramref name="first"/> and is <paramref name="granules"/> long. The caller has wiped it.</summary>
    internal void Free(int first, int granules)
    {
        Debug.Assert(IsStart(first) && LengthOf(first) == granules);
        ClearRange(_used, first, granules);
        ClearBit(_starts, first);
        SetPadding(first, 0);
        Avail += granules;
        LiveAllocations--;

        if (first + granules == Bump)
        {
            // Freed at the top (a rollback frees in this order): lower the cursor over every free granule below it.
            int bump = first;
            while (bump > 0 && !IsUsed(bump - 1))
            {
                bump--;
                Holes--;
            }

            _highWater = Math.Max(_highWater, Bump);
            Bump = bump;
        }
        else
        {
            Holes += granules;
        }
    }

    /// <summary>Bytes from <see cref="Start"/> that were ever handed out (the high-water mark).</summary>
    internal nuint UsedBytes => (nuint)HighWater << GranuleShift;

    /// <summary>Wipes every byte that was ever handed out. The caller makes the chunk writable first.</summary>
    internal void WipeUsed()
    {
        if (HighWater > 0)
        {
            OsMemory.Wipe(Start, UsedBytes);
        }
    }

    /// <summary>Frees the bitmaps now. The chunk must not be used afterwards.</summary>
    internal void ReleaseBitmaps()
    {
        if (!_released)
        {
            _released = true;
            NativeMemory.Free(_used);
            NativeMemory.Free(_padding);
            if (_pressure != 0)
            {
                GC.RemoveMemoryPressure(_pressure);
            }

            GC.SuppressFinalize(this);
        }
    }

    /// <summary>
    /// Leaves the bitmaps to the finalizer, for a destroyed protected pool's chunk: lock-free checks may still hold
    /// the chunk (see ChunkRegistry), and the finalizer runs only once none can. The GC is told about the native
    /// bytes, so it collects soon enough.
    /// </summary>
    internal void ReleaseBitmapsWhenUnreachable()
    {
        _pressure = ((long)_words * 2 * sizeof(ulong)) + ((long)GranuleCount << (GranuleShift > 8 ? 1 : 0));
        GC.AddMemoryPressure(_pressure);
    }

    /// <summary>Frees the bitmaps of a chunk that became unreachable without <see cref="ReleaseBitmaps"/>.</summary>
    ~Chunk() => ReleaseBitmaps();

    /// <summary>Checks every invariant in the class remarks by walking the bitmaps (expensive: tests call it).</summary>
    internal void ValidateInvariants()
    {
        int used = 0, holes = 0, live = 0;
        for (int g = 0; g < GranuleCount; g++)
        {
            bool u = IsUsed(g), s = IsStart(g);
            Check(u || !s, $"granule {g} is a start but not used (01)");
            Check(s || GetPadding(g) == 0, $"granule {g} is not a start but has padding {GetPadding(g)}");
            Check(!u || g < Bump, $"granule {g} is used at or above the bump cursor {Bump}");
            Check(g != 0 || !u || s, "granule 0 is used but is not the start of an allocation");
            used += u ? 1 : 0;
            live += s ? 1 : 0;
            holes += !u && g < Bump ? 1 : 0;
        }

        Check(Avail == GranuleCount - used, $"avail {Avail} but {GranuleCount - used} granules are free");
        Check(Holes == holes, $"holes {Holes} but {holes} free granules lie below the cursor");
        Check(LiveAllocations == live, $"{LiveAllocations} live allocations counted but {live} starts in the bitmap");
        Check(HighWater >= Bump, "the high-water mark is below the cursor");

        static void Check(bool condition, string message)
        {
            if (!condition)
            {
                throw new InvalidOperationException("Chunk invariant broken: " + message);
            }
        }
    }

    private void Mark(int first, int granules, int padding)
    {
        // Padding is 0 for every granule that does not start an allocation (Free resets it), so a size that
        // is a whole number of granules, the common case, never touches the padding array.
        if (padding != 0)
        {
            SetPadding(first, padding);
        }

        SetRange(_used, first, granules);
        SetBit(_starts, first);
        Avail -= granules;
        LiveAllocations++;
    }

    /// <summary>First-fit: the lowest run of <paramref name="granules"/> free granules below <paramref name="limit"/>, or -1.</summary>
    private int FindFreeRun(int granules, int limit)
    {
        int index = 0;
        while (index < limit)
        {
            int runStart = NextWithBit(_used, index, limit, wantSet: false);
            if (runStart >= limit)
            {
                return -1;
            }

            int runEnd = NextWithBit(_used, runStart, limit, wantSet: true);
            if (runEnd - runStart >= granules)
            {
                return runStart;
            }

            index = runEnd;
        }

        return -1;
    }

    /// <summary>The first index in [<paramref name="from"/>, <paramref name="limit"/>) whose bit is set (or clear), else <paramref name="limit"/>.</summary>
    private static int NextWithBit(ulong* map, int from, int limit, bool wantSet)
    {
        int index = from;
        while (index < limit)
        {
            int word = index >> 6;
            ulong bits = wantSet ? Word(map, word) : ~Word(map, word);
            bits >>= index & 63;
            if (bits != 0)
            {
                return Math.Min(limit, index + BitOperations.TrailingZeroCount(bits));
            }

            index = (word + 1) << 6;
        }

        return limit;
    }

    private int GetPadding(int granule) => GranuleShift > 8 ? ((ushort*)_padding)[granule] : _padding[granule];

    private void SetPadding(int granule, int padding)
    {
        if (GranuleShift > 8)
        {
            ((ushort*)_padding)[granule] = (ushort)padding;
        }
        else
        {
            _padding[granule] = (byte)padding;
        }
    }

    /// <summary>Word <paramref name="word"/> of a bitmap (the two bitmaps are interleaved word by word).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref ulong Word(ulong* map, int word) => ref map[word << 1];

    private static bool TestBit(ulong* map, int index) => (Word(map, index >> 6) & (1UL << (index & 63))) != 0;

    private static void SetBit(ulong* map, int index) => Word(map, index >> 6) |= 1UL << (index & 63);

    private static void ClearBit(ulong* map, int index) => Word(map, index >> 6) &= ~(1UL << (index & 63));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SetRange(ulong* map, int first, int count)
    {
        int bit = first & 63;
        if (bit + count <= 64)
        {
            // The common case: the run fits in one word.
            Word(map, first >> 6) |= (ulong.MaxValue >> (64 - count)) << bit;
            return;
        }

        ApplyRange(map, first, count, set: true);
    }

    private static void ClearRange(ulong* map, int first, int count) => ApplyRange(map, first, count, set: false);

    private static void ApplyRange(ulong* map, int first, int count, bool set)
    {
        int index = first;
        int end = first + count;
        while (index < end)
        {
            int bit = index & 63;
            int take = Math.Min(64 - bit, end - index);
            ulong mask = (ulong.MaxValue >> (64 - take)) << bit;
            if (set)
            {
                Word(map, index >> 6) |= mask;
            }
            else
            {
                Word(map, index >> 6) &= ~mask;
            }

            index += take;
        }
    }
}
