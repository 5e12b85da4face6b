using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// One mapping plus its bitmap allocator (lib/genalloc.c with Igor Stoppa's "track beginning of allocations" patch),
/// answering "which allocation holds this address, and how large is it" in constant time.
/// </summary>
/// <remarks>
/// <para><b>Bitmap.</b> Every granule (the pool's alignment, 8 bytes to one page) has two bits: <c>11</c> the first
/// granule of an allocation, <c>10</c> a following granule, <c>00</c> free. The two bits of a granule live at the same
/// index of two bitmaps, <see cref="_used"/> (the first bit) and <see cref="_starts"/> (the second), interleaved word by
/// word so a lookup finds both bits of a granule in one cache line. This is what lets <c>Free</c> work without a size
/// and reject interior and foreign pointers.</para>
/// <para><b>Lookup by address in O(1)</b>, whatever the allocation's size (<see cref="TryFind"/>):</para>
/// <list type="bullet">
/// <item>The start: the nearest start bit at or below the granule, searched in the granule's own bitmap word only.
/// If there is none, the allocation began in an earlier word, so the word's first granule is a following granule
/// (<c>10</c>) and <see cref="_wordOwner"/> names the allocation's start: every allocation records itself in each
/// word whose first granule it covers but does not start.</item>
/// <item>The size: the exact requested size is the granule count minus the padding byte(s) of <see cref="_meta"/> at
/// the start. The granule count of an allocation of at most 64 granules is read from at most two bitmap words; a
/// longer one stores its count in the <see cref="_meta"/> bytes of its second to fifth granules, unused otherwise.</item>
/// </list>
/// <para><b>Fast path.</b> Granules at or above <see cref="Bump"/> have never been handed out since the chunk was last
/// empty: while <see cref="Holes"/> is 0 an allocation is a bump of that cursor. After a free below the cursor,
/// first-fit over the bitmap fills the holes before the cursor moves. <see cref="Avail"/> (genalloc's <c>avail</c>)
/// lets the pool skip full chunks.</para>
/// <para><b>Invariants</b> (checked by <see cref="ValidateInvariants"/>): <c>Avail = GranuleCount - used granules</c>;
/// <c>Holes = free granules below Bump</c>; nothing is used at or above Bump; every word whose first granule is
/// <c>10</c> has its allocation's start in <see cref="_wordOwner"/>; every free granule holds zeros (frees wipe), so a
/// fresh allocation is already zeroed.</para>
/// <para><b>Concurrency.</b> Not thread-safe: the owning pool serializes every change under its lock. Once the pool is
/// protected the bitmaps never change again, so lookups need no lock: such a lookup first announces itself
/// (<see cref="TryReadWithoutLock"/>), and a destroyed pool frees the bitmaps at once only if none ever did, else leaves them
/// to a finalizer (<see cref="ReleaseBitmapsAfterReaders"/>). A writable pool's are freed by <see cref="ReleaseBitmaps"/>
/// under its lock after <see cref="IsLive"/> was cleared.</para>
/// </remarks>
internal sealed unsafe class Chunk
{
    /// <summary>Allocations longer than this many granules keep their granule count in <see cref="_meta"/>.</summary>
    private const int ScanLimit = 64;

    /// <summary>Bitmap of granules in use (first bit of the pair).</summary>
    private readonly ulong* _used;

    /// <summary>Bitmap of granules that begin an allocation (second bit of the pair).</summary>
    private readonly ulong* _starts;

    /// <summary>
    /// Per granule, one byte (two when granules exceed 256 bytes): at a start, the padding after the requested size; in
    /// the second to fifth granules of an allocation longer than <see cref="ScanLimit"/>, its granule count (32 bits).
    /// </summary>
    private readonly byte* _meta;

    /// <summary>Per bitmap word: the start granule of the allocation that covers the word's first granule without starting there.</summary>
    private readonly int* _wordOwner;

    private readonly int _words;

    private int _holes;

    /// <summary>How far the bump fast path may go: <see cref="GranuleCount"/> while there are no holes, else 0 (one test instead of two).</summary>
    private int _bumpLimit;

    /// <summary>The highest <see cref="Bump"/> before the cursor was last lowered (kept off the fast path).</summary>
    private int _highWater;

    /// <summary>The metadata is freed, or handed to <see cref="_releaser"/>: this chunk frees nothing again.</summary>
    private bool _released;

    /// <summary>The finalizable owner of the metadata once <see cref="ReleaseBitmapsWhenUnreachable"/> gave it up (held here only to keep it alive with the chunk), or null.</summary>
    private MetadataReleaser? _releaser;

    /// <summary>Is the metadata left to the finalizer (for tests)?</summary>
    internal bool MetadataLeftToFinalizer => _releaser is not null;

    /// <summary>Is the metadata freed or left to the finalizer (for tests)?</summary>
    internal bool MetadataReleased => _released;

    /// <summary>Allocates the metadata for a chunk of <paramref name="length"/> bytes; <see cref="Attach"/> gives it its mapping.</summary>
    /// <remarks>The metadata comes first, so that running out of memory here leaves no mapping behind.</remarks>
    internal Chunk(nuint length, int granuleShift)
    {
        GranuleShift = granuleShift;
        GranuleCount = checked((int)(length >> granuleShift));
        _bumpLimit = GranuleCount;
        _words = (GranuleCount + 63) >> 6;

        // The bitmaps live off the GC heap and outside the chunk: metadata is never in protected memory,
        // and a pool's footprint on the GC heap does not grow with its size. One block holds all of it: the two bitmaps
        // interleaved word by word, the word owners, then the per-granule bytes.
        // A small block (a one-page chunk's is 336 bytes) is taken from malloc's per-thread cache and cleared here: glibc's
        // calloc skips that cache, and its bins cost a small pool's life more than the clearing does. A large one comes
        // from calloc, whose fresh pages need no clearing.
        nuint bytes = MetadataBytes;
        if (bytes <= SmallMetadataBytes)
        {
            _used = (ulong*)NativeMemory.Alloc(bytes);
            NativeMemory.Clear(_used, bytes);
        }
        else
        {
            _used = (ulong*)NativeMemory.AllocZeroed(bytes);
        }

        _starts = _used + 1;
        _wordOwner = (int*)(_used + (2 * _words));
        _meta = (byte*)(_wordOwner + _words + (_words & 1));
    }

    /// <summary>Metadata up to this size is allocated with malloc and cleared (glibc's per-thread cache holds blocks up to 1,032 bytes).</summary>
    private const nuint SmallMetadataBytes = 1024;

    /// <summary>Bytes of the metadata block: the bitmaps (two words per 64 granules), the word owners (kept 8-byte aligned), the per-granule bytes.</summary>
    private nuint MetadataBytes => ((nuint)_words * (2 * sizeof(ulong))) + ((nuint)(_words + (_words & 1)) * sizeof(int)) + ((nuint)GranuleCount * MetaWidth);

    /// <summary>The mapping, once attached.</summary>
    internal ChunkMapping Mapping { get; private set; } = null!;

    /// <summary>First usable byte.</summary>
    internal nint Start { get; private set; }

    /// <summary>One past the last usable byte.</summary>
    internal nint End { get; private set; }

    internal int GranuleShift { get; }

    internal int GranuleCount { get; }

    /// <summary>
    /// Free granules in the chunk (genalloc's <c>avail</c>): those never handed out at and above the cursor, plus the holes
    /// below it. Derived, so the fast path keeps no count.
    /// </summary>
    internal int Avail => GranuleCount - Bump + _holes;

    /// <summary>Padding bytes of the live allocations (granule bytes not requested), so the pool's requested bytes are derived too.</summary>
    internal long PaddingBytes { get; private set; }

    /// <summary>Granules at and above this index were never handed out since the chunk was last empty.</summary>
    internal int Bump { get; private set; }

    /// <summary>Free granules below <see cref="Bump"/>: 0 means the bump fast path applies.</summary>
    internal int Holes
    {
        get => _holes;
        private set
        {
            _holes = value;
            _bumpLimit = value == 0 ? GranuleCount : 0;
        }
    }

    /// <summary>The highest <see cref="Bump"/> ever reached: bytes above it were never written.</summary>
    internal int HighWater => Math.Max(_highWater, Bump);

    /// <summary>The number of live allocations: the start bits below the cursor, counted (for statistics; not on a hot path).</summary>
    internal int LiveAllocations
    {
        get
        {
            int live = 0;
            for (int w = 0, words = (Bump + 63) >> 6; w < words; w++)
            {
                live += BitOperations.PopCount(Word(_starts, w));
            }

            return live;
        }
    }

    internal bool IsEmpty => Avail == GranuleCount;

    /// <summary>True while the chunk belongs to its pool; cleared under the pool's lock before it is unmapped.</summary>
    internal bool IsLive => _live;

    /// <summary>Backs <see cref="IsLive"/>; volatile for the handshake of <see cref="TryReadWithoutLock"/>.</summary>
    private volatile bool _live;

    /// <summary>1 once a lookup read the metadata without the pool's lock (<see cref="TryReadWithoutLock"/>); never cleared.</summary>
    private int _readWithoutLock;

    /// <summary>Bytes from <see cref="Start"/> that were ever handed out (the high-water mark).</summary>
    internal nuint UsedBytes => (nuint)HighWater << GranuleShift;

    private uint MetaWidth => GranuleShift > 8 ? 2u : 1u;

    /// <summary>Gives the chunk its mapping, which must be as long as the chunk was made for.</summary>
    internal void Attach(ChunkMapping mapping)
    {
        Debug.Assert((int)(mapping.Length >> GranuleShift) == GranuleCount);
        Mapping = mapping;
        Start = mapping.Start;
        End = mapping.Start + (nint)mapping.Length;
        _live = true;
    }

    /// <summary>Marks the chunk as no longer its pool's, before it is unmapped. The caller holds the pool's lock.</summary>
    internal void Retire() => _live = false;

    /// <summary>
    /// Announces a lookup of a protected pool's chunk that takes no lock (the usercopy checks): true if the chunk is still
    /// live, and then its metadata stays allocated for as long as the caller can reach the chunk; false if it is retired, and
    /// then the caller must not read it (it takes the pool's lock and finds the chunk gone instead).
    /// </summary>
    /// <remarks>
    /// One half of an asymmetric Dekker handshake with <see cref="ReleaseBitmapsAfterReaders"/>: this side stores its flag,
    /// fences, then loads <see cref="IsLive"/>; the destroyer clears <see cref="IsLive"/>, fences, then loads the flag. At
    /// least one sees the other's store: either the lookup sees the chunk retired and does not look, or the destroyer
    /// sees the lookup and leaves the metadata to the finalizer. Only the first lookup of a chunk pays for the fence (an
    /// interlocked exchange); a later one finds the flag set, and a destroyer that fences after it was set sees it too.
    /// </remarks>
    internal bool TryReadWithoutLock()
    {
        if (Volatile.Read(ref _readWithoutLock) == 0)
        {
            _ = Interlocked.Exchange(ref _readWithoutLock, 1);
        }

        return _live;
    }

    internal bool Contains(nint address) => address >= Start && address < End;

    internal nint AddressOf(int granule) => Start + ((nint)granule << GranuleShift);

    internal int GranuleOf(nint address) => (int)((address - Start) >> GranuleShift);

    /// <summary>
    /// The fast path: take <paramref name="granules"/> from the bump cursor, if they fit, there are no holes, and the run
    /// lies in one bitmap word (so no word learns an owner and no length is stored: see <see cref="Mark"/>). Returns 0
    /// otherwise; <see cref="TryAllocate"/> does the rest.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal nint TryBump(int granules, int padding)
    {
        int first = Bump;
        int bit = first & 63;
        if (_bumpLimit - first < granules || bit + granules > 64)
        {
            return 0;
        }

        // The run's bits in the used word; its lowest bit is the start (the starts word is interleaved right after).
        ulong run = (System.Runtime.Intrinsics.X86.Bmi2.X64.IsSupported
            ? System.Runtime.Intrinsics.X86.Bmi2.X64.ZeroHighBits(ulong.MaxValue, (ulong)granules)
            : ulong.MaxValue >> (64 - granules)) << bit;
        ulong* used = _used + ((first >> 5) & ~1);
        used[0] |= run;
        used[1] |= run & unchecked(0 - run);
        if (padding != 0)
        {
            SetMeta(first, padding);
            PaddingBytes += padding;
        }

        Bump = first + granules;
        return Start + ((nint)first << GranuleShift);
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

    /// <summary>
    /// Finds the allocation whose granules hold <paramref name="address"/> (inside the chunk), in constant time.
    /// False if the granule is free. <paramref name="start"/> + <paramref name="size"/> may be at or below the address:
    /// then it lies in the allocation's padding, which is no allocation's bytes.
    /// </summary>
    internal bool TryFind(nint address, out nint start, out nuint size)
    {
        Debug.Assert(Contains(address));
        int granule = GranuleOf(address);
        int first = FindStart(granule);
        if (first < 0)
        {
            start = 0;
            size = 0;
            return false;
        }

        start = AddressOf(first);
        size = SizeOf(first);
        return true;
    }

    /// <summary>Does a live allocation begin exactly at <paramref name="address"/> (inside the chunk)?</summary>
    internal bool IsAllocationStart(nint address)
    {
        Debug.Assert(Contains(address));
        int granule = GranuleOf(address);
        return AddressOf(granule) == address && TestBit(_starts, granule);
    }

    /// <summary>The granules and requested size of the live allocation that begins at <paramref name="start"/>.</summary>
    internal (int Granules, nuint Size) AllocationAt(nint start)
    {
        Debug.Assert(IsAllocationStart(start));
        int first = GranuleOf(start);
        int granules = LengthOf(first);
        return (granules, ((nuint)granules << GranuleShift) - (nuint)GetMeta(first));
    }

    /// <summary>Frees the allocation that begins at <paramref name="start"/> and is <paramref name="granules"/> long. The caller has wiped it.</summary>
    internal void Free(nint start, int granules)
    {
        int first = GranuleOf(start);
        Debug.Assert(TestBit(_starts, first) && LengthOf(first) == granules);
        ClearRange(_used, first, granules);
        ClearBit(_starts, first);
        PaddingBytes -= GetMeta(first);
        SetMeta(first, 0);
        if (granules > ScanLimit)
        {
            StoreLength(first, 0);
        }


        if (first + granules == Bump)
        {
            // Freed at the top (a rollback frees in this order): lower the cursor over every free granule below it.
            int bump = first;
            while (bump > 0 && !TestBit(_used, bump - 1))
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

    /// <summary>Calls <paramref name="visit"/> with the start and requested size of every live allocation, in address order (for invariant checks).</summary>
    internal void ForEachAllocation(Action<nint, nuint> visit)
    {
        for (int g = 0; g < GranuleCount; g++)
        {
            if (TestBit(_starts, g))
            {
                visit(AddressOf(g), SizeOf(g));
            }
        }
    }

    /// <summary>Frees the metadata now. The chunk must not be used afterwards.</summary>
    internal void ReleaseBitmaps()
    {
        if (!_released)
        {
            _released = true;
            NativeMemory.Free(_used);
        }
    }

    /// <summary>
    /// Frees a protected pool's retired chunk's metadata: now, if no lookup ever read it without the lock (the other half of
    /// <see cref="TryReadWithoutLock"/>'s handshake); else it is left to a finalizer, as such a lookup may still hold the
    /// chunk (see <c>ChunkRegistry</c>). The caller holds the pool's lock and has retired the chunk.
    /// </summary>
    internal void ReleaseBitmapsAfterReaders()
    {
        Debug.Assert(!_live);
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _readWithoutLock) == 0)
        {
            ReleaseBitmaps();
        }
        else
        {
            ReleaseBitmapsWhenUnreachable();
        }
    }

    /// <summary>
    /// Leaves the metadata to a finalizer: the finalizer of an object only the chunk references runs only once no lookup
    /// can reach the chunk. That object holds nothing but the block, so the chunk itself is never finalizable and its
    /// graph is never kept for a finalizer; large metadata is reported to the GC, so it collects soon enough.
    /// </summary>
    private void ReleaseBitmapsWhenUnreachable()
    {
        if (!_released)
        {
            _released = true;
            _releaser = new MetadataReleaser(_used, MetadataBytes >= PressureThreshold ? (long)MetadataBytes : 0);
        }
    }

    /// <summary>
    /// Metadata at least this large is reported to the GC when its release is left to the finalizer (a chunk of about
    /// 192 KiB at 16-byte granules). Smaller metadata is left to the GC's own pace: the chunk's managed garbage brings the
    /// next collection soon enough, and pressure for a few hundred bytes (a small pool's) would only induce collections.
    /// </summary>
    private const nuint PressureThreshold = 16 * 1024;

    /// <summary>Owns a retired chunk's metadata block until no one can reach the chunk, then frees it.</summary>
    private sealed class MetadataReleaser
    {
        private readonly void* _block;
        private readonly long _pressure;

        internal MetadataReleaser(void* block, long pressure)
        {
            _block = block;
            _pressure = pressure;
            if (pressure != 0)
            {
                GC.AddMemoryPressure(pressure);
            }
        }

        ~MetadataReleaser()
        {
            NativeMemory.Free(_block);
            if (_pressure != 0)
            {
                GC.RemoveMemoryPressure(_pressure);
            }
        }
    }

    /// <summary>Checks every invariant in the class remarks by walking the bitmaps (expensive: tests call it).</summary>
    internal void ValidateInvariants()
    {
        int used = 0, holes = 0, live = 0, owner = -1;
        for (int g = 0; g < GranuleCount; g++)
        {
            bool u = TestBit(_used, g), s = TestBit(_starts, g);
            Check(u || !s, $"granule {g} is a start but not used (01)");
            Check(!u || g < Bump, $"granule {g} is used at or above the bump cursor {Bump}");
            Check(g != 0 || !u || s, "granule 0 is used but is not the start of an allocation");
            owner = s ? g : u ? owner : -1;
            if ((g & 63) == 0 && u && !s)
            {
                Check(_wordOwner[g >> 6] == owner, $"word {g >> 6} names {_wordOwner[g >> 6]} as its owner, not {owner}");
            }

            if (s)
            {
                int scanned = ScanLength(g, int.MaxValue);
                Check(LengthOf(g) == scanned, $"the allocation at granule {g} is {scanned} granules long, but its metadata says {LengthOf(g)}");
                Check(GetMeta(g) < (1 << GranuleShift), $"the allocation at granule {g} has padding {GetMeta(g)}, not less than a granule");
            }

            used += u ? 1 : 0;
            live += s ? 1 : 0;
            holes += !u && g < Bump ? 1 : 0;
        }

        Check(Avail == GranuleCount - used, $"avail {Avail} but {GranuleCount - used} granules are free");
        Check(Holes == holes, $"holes {Holes} but {holes} free granules lie below the cursor");
        Check(LiveAllocations == live, $"{LiveAllocations} live allocations counted but {live} starts in the bitmap");
        long padding = 0;
        ForEachAllocation((start, size) => padding += (long)(((nuint)LengthOf(GranuleOf(start)) << GranuleShift) - size));
        Check(PaddingBytes == padding, $"{PaddingBytes} padding bytes counted but the allocations have {padding}");
        Check(HighWater >= Bump, "the high-water mark is below the cursor");

        static void Check(bool condition, string message)
        {
            if (!condition)
            {
                throw ThrowHelper.InvariantBroken("Chunk invariant broken: " + message);
            }
        }
    }

    /// <summary>The requested size of the allocation that begins at granule <paramref name="first"/>.</summary>
    private nuint SizeOf(int first) => ((nuint)LengthOf(first) << GranuleShift) - (nuint)GetMeta(first);

    /// <summary>The first granule of the live allocation that holds <paramref name="granule"/>, or -1 if it is free. Constant time.</summary>
    private int FindStart(int granule)
    {
        int word = granule >> 6;
        ulong usedWord = Word(_used, word);
        if ((usedWord & (1UL << (granule & 63))) == 0)
        {
            return -1;
        }

        // The nearest start at or below the granule, in its own word; else the allocation began in an earlier word.
        ulong starts = Word(_starts, word) & (ulong.MaxValue >> (63 - (granule & 63)));
        return starts != 0 ? (word << 6) + 63 - BitOperations.LeadingZeroCount(starts) : _wordOwner[word];
    }

    /// <summary>The number of granules of the allocation that begins at <paramref name="first"/> (which must be a start). Constant time.</summary>
    private int LengthOf(int first)
    {
        int scanned = ScanLength(first, ScanLimit);
        return scanned <= ScanLimit ? scanned : LoadLength(first);
    }

    /// <summary>The allocation's length found by scanning the bitmaps for its end, or <paramref name="limit"/> + 1 if it is longer.</summary>
    private int ScanLength(int first, int limit)
    {
        // The allocation continues while granules are "10": used and not a start.
        int index = first + 1;
        int stop = (int)Math.Min((long)first + limit + 1, GranuleCount);
        while (index < stop)
        {
            int word = index >> 6;
            ulong ends = (~Word(_used, word) | Word(_starts, word)) >> (index & 63);
            if (ends != 0)
            {
                return Math.Min(index + BitOperations.TrailingZeroCount(ends), stop) - first;
            }

            index = (word + 1) << 6;
        }

        return stop == GranuleCount ? GranuleCount - first : limit + 1;
    }

    private void Mark(int first, int granules, int padding)
    {
        // Padding is 0 for every granule that does not start an allocation (Free resets it), so a size that
        // is a whole number of granules, the common case, never touches the metadata bytes.
        if (padding != 0)
        {
            SetMeta(first, padding);
            PaddingBytes += padding;
        }

        SetRange(_used, first, granules);
        SetBit(_starts, first);

        // Each word whose first granule this allocation covers without starting there learns where it starts.
        int end = first + granules;
        for (int boundary = (first + 64) & ~63; boundary < end; boundary += 64)
        {
            _wordOwner[boundary >> 6] = first;
        }

        if (granules > ScanLimit)
        {
            StoreLength(first, granules);
        }

    }

    /// <summary>Keeps a long allocation's granule count in the metadata of its following granules (32 bits).</summary>
    private void StoreLength(int first, int granules)
    {
        if (MetaWidth == 1)
        {
            Unsafe.WriteUnaligned(_meta + first + 1, granules);
        }
        else
        {
            Unsafe.WriteUnaligned((ushort*)_meta + first + 1, granules);
        }
    }

    private int LoadLength(int first) => MetaWidth == 1
        ? Unsafe.ReadUnaligned<int>(_meta + first + 1)
        : Unsafe.ReadUnaligned<int>((ushort*)_meta + first + 1);

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

    private int GetMeta(int granule) => MetaWidth == 2 ? ((ushort*)_meta)[granule] : _meta[granule];

    private void SetMeta(int granule, int value)
    {
        if (MetaWidth == 2)
        {
            ((ushort*)_meta)[granule] = (ushort)value;
        }
        else
        {
            _meta[granule] = (byte)value;
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
