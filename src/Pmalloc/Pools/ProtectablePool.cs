using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Pmalloc;

/// <summary>
/// A named set of chunks with one lifecycle: filled while <see cref="PoolState.Writable"/>, made
/// read-only for good by <see cref="Protect"/>, and returned only by <see cref="Dispose"/>
/// (the kernel's <c>pmalloc_pool</c>).
/// </summary>
/// <remarks>
/// <para><b>Refill.</b> The first chunk is <see cref="PoolOptions.ChunkSize"/> bytes (whole pages) when it is set, one
/// page when it is left at its default, or the first allocation's size if larger; each new chunk is as large as
/// everything mapped so far (geometric growth, capped at <see cref="MaxGrowthChunkSize"/>, and never below a set
/// <see cref="PoolOptions.ChunkSize"/>), so a small pool maps one page and a million small allocations need a few dozen
/// mappings. An allocation too large for that gets a chunk of its own size. A refill allocates the chunk's metadata
/// before it maps anything, and gives back what it took on every failure: a refused refill leaves no mapping and no
/// descriptor.</para>
/// <para><b>Memory.</b> Every chunk is a range of the pool's one memory file (<see cref="PoolBacking"/>): one descriptor
/// per pool while it is writable, none once a write-once pool is protected (<see cref="Protect"/> closes it; the mappings
/// keep the memory). Wiping never commits a page that was never touched: whole pages are given back to the kernel
/// (a punched hole reads as zeros), only the partial pages at an allocation's ends are zeroed with stores.</para>
/// <para><b>Concurrency.</b> Allocation, free, rollback, protect and destroy take the pool's lock.
/// Reads of protected memory need no lock: once protected, nothing about the chunks changes until
/// destroy.</para>
/// <para><b>Failure.</b> Every public method validates first and changes nothing when it throws.</para>
/// <para><b>What it uses.</b> The chunks (<c>Allocation/</c>) and the OS layer (<c>Os/</c>); sealing (<c>Sealing/</c>)
/// at protect and destroy. A pool kind's stores go through its <see cref="WritePath"/>. The registry and the metrics
/// hear about chunks through <see cref="ChunkEvents"/> only.</para>
/// </remarks>
public abstract unsafe class ProtectablePool : IDisposable
{
    /// <summary>The largest single allocation, in bytes (4 GiB).</summary>
    public const long MaxAllocationSize = 1L << 32;

    /// <summary>Geometric growth stops at chunks of this many bytes (64 MiB); larger requests still get a chunk of their own.</summary>
    internal const long MaxGrowthChunkSize = 64L << 20;

    /// <summary>Name, state and lock, shared with the registry and the metrics through <see cref="ChunkEvents"/>.</summary>
    private protected readonly PoolCore _core;

    /// <summary>How this pool kind stores into its chunks.</summary>
    private protected readonly WritePath _writePath;

    /// <summary>What protect and destroy do about sealing.</summary>
    private readonly ChunkSealer _sealer;

    /// <summary>The pool's memory file, opened with the first chunk.</summary>
    private readonly PoolBacking _backing;

    /// <summary>All chunks, sorted by address, for lookups by address.</summary>
    private readonly List<Chunk> _chunks = [];

    /// <summary>The newest chunk: the bump fast path allocates from it.</summary>
    private Chunk? _current;

    /// <summary><see cref="_current"/> while the fast path may use it (the pool writable, no rollback log), else null: one test on the fast path. Kept by <see cref="SetCurrent"/>.</summary>
    private Chunk? _fastChunk;

    private readonly nuint _granuleMask;

    private readonly int _granuleShift;
    private readonly nuint _chunkSize;
    private long _mappedBytes;


    /// <summary>
    /// The rollback log: allocations made since the first <see cref="Checkpoint"/> that a rollback may still have to free,
    /// oldest first; null until a mark is taken. Compacted when full (<see cref="CompactLog"/>), so that it stays within
    /// twice the live allocations it names (and at least <see cref="RollbackLogFloor"/> entries), however many come and go.
    /// </summary>
    private List<LogEntry>? _log;

    /// <summary>Allocations logged so far: the serial of the next log entry. A mark's position is a value of it.</summary>
    private long _logSerial;

    /// <summary>Addresses met by the running compaction (kept between compactions, so a small log compacts without allocating).</summary>
    private HashSet<nint>? _logSeen;

    private long _checkpointSerial;

    /// <summary>Ranges of mark serials invalidated by a rollback to an earlier mark.</summary>
    private List<(long From, long To)>? _invalidMarks;

    private protected ProtectablePool(PoolOptions? options, WritePath writePath)
    {
        OsPlatform.EnsureSupported();
        Options = Validate(options ?? new PoolOptions());
        _writePath = writePath;
        _core = new PoolCore(Options.Name, writePath.ChunksBornReadOnly);
        _sealer = new ChunkSealer(Options, writePath.ChunksBornReadOnly);
        _backing = new PoolBacking(Options.Name);
        _granuleShift = System.Numerics.BitOperations.Log2((uint)Options.Alignment);
        _granuleMask = (nuint)Options.Alignment - 1;
        _chunkSize = Options.ChunkSizeIsSet ? OsMemory.RoundUpToPages((nuint)Options.ChunkSize) : (nuint)OsMemory.PageSize;
        ChunkEvents.Publish(ChunkEventKind.PoolCreated, _core);
    }

    /// <summary>The pool's name, from <see cref="PoolOptions.Name"/>.</summary>
    public string Name => _core.Name;

    /// <summary>The options the pool was made with.</summary>
    public PoolOptions Options { get; }

    /// <summary>The pool's lifecycle state.</summary>
    public PoolState State => _core.State;

    /// <summary>A consistent snapshot of the pool's size and state.</summary>
    public PoolStatistics Statistics
    {
        get
        {
            using (_core.Lock.EnterScope())
            {
                long allocated = 0, live = 0, requested = 0;
                foreach (Chunk chunk in _chunks)
                {
                    long bytes = (long)(chunk.GranuleCount - chunk.Avail) << _granuleShift;
                    allocated += bytes;
                    requested += bytes - chunk.PaddingBytes;
                    live += chunk.LiveAllocations;
                }

                return new PoolStatistics
                {
                    Name = Name,
                    State = _core.State,
                    Chunks = _chunks.Count,
                    MappedBytes = _mappedBytes,
                    AllocatedBytes = allocated,
                    RequestedBytes = requested,
                    LiveAllocations = live,
                    Sealed = _sealer.MappingsSealed,
                    Hardening = HardeningInForce(),
                };
            }
        }
    }

    /// <summary>
    /// Allocates <paramref name="size"/> bytes aligned to <see cref="PoolOptions.Alignment"/> (the kernel's
    /// <c>pmalloc</c>). The memory is zeroed: fresh pages are zero and <see cref="Free"/> wipes.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is 0 or above <see cref="MaxAllocationSize"/>.</exception>
    /// <exception cref="InvalidOperationException">The pool is protected.</exception>
    /// <exception cref="ObjectDisposedException">The pool was destroyed.</exception>
    public nint Allocate(nuint size)
    {
        if (unchecked((ulong)size - 1) >= MaxAllocationSize)
        {
            ThrowHelper.ThrowBadSize(Name, size, MaxAllocationSize);
        }

        int granules = (int)((size + _granuleMask) >> _granuleShift);
        int padding = (int)(((nuint)granules << _granuleShift) - size);

        // The fast path, a few instructions and no atomic: the lock's owner thread (PoolLock), a writable pool with no
        // rollback log (_fastChunk), and room at the newest chunk's bump cursor. Nothing in it can throw, so it needs no
        // try/finally.
        ref PoolLock poolLock = ref _core.Lock;
        if (poolLock.TryEnterBiased())
        {
            if (_fastChunk is { } chunk)
            {
                nint address = chunk.TryBump(granules, padding);
                if (address != 0)
                {
                    poolLock.ExitBiased();
                    return address;
                }
            }

            poolLock.ExitBiased();
        }

        return AllocateLocked(size, granules, padding);
    }

    /// <summary>Everything <see cref="Allocate(nuint)"/>'s fast path does not do, under the lock: state checks, holes, new chunks, the rollback log.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private nint AllocateLocked(nuint size, int granules, int padding)
    {
        using (_core.Lock.EnterScope())
        {
            if (_core.State != PoolState.Writable)
            {
                ThrowHelper.ThrowForState(Name, _core.State, "allocate");
            }

            // Room in the rollback log first: making it can run out of memory, and then nothing has changed yet.
            List<LogEntry>? log = _log;
            if (log is not null && log.Count == log.Capacity)
            {
                CompactLog(log);
            }
            nint address = _current is { } chunk ? chunk.TryBump(granules, padding) : 0;
            if (address == 0)
            {
                address = AllocateSlow(granules, padding);
            }

            log?.Add(new LogEntry(address, _logSerial++));
            return address;
        }
    }

    /// <summary>Allocates <paramref name="size"/> zeroed bytes (the kernel's <c>pzalloc</c>); the same as <see cref="Allocate(nuint)"/>, whose memory is always zeroed.</summary>
    public nint AllocateZeroed(nuint size) => Allocate(size);

    /// <summary>Allocates one zeroed <typeparamref name="T"/> and returns a reference to it.</summary>
    public ref T Allocate<T>()
        where T : unmanaged => ref *(T*)Allocate((nuint)sizeof(T));

    /// <summary>Allocates <paramref name="count"/> zeroed elements (the kernel's <c>pcalloc</c>), checking <c>count * sizeof(T)</c> for overflow.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is not positive, or the array is larger than <see cref="MaxAllocationSize"/>.</exception>
    public Span<T> AllocateArray<T>(int count)
        where T : unmanaged
    {
        if (count <= 0 || (ulong)count * (ulong)sizeof(T) > MaxAllocationSize)
        {
            ThrowHelper.ThrowBadCount(Name, count, sizeof(T));
        }

        return new Span<T>((void*)Allocate((nuint)count * (nuint)sizeof(T)), count);
    }

    /// <summary>Copies <paramref name="text"/> into the pool as NUL-terminated UTF-8 (the kernel's <c>pstrdup</c>) and returns its address.</summary>
    public nint AllocateUtf8(ReadOnlySpan<char> text)
    {
        int bytes = Encoding.UTF8.GetByteCount(text);
        nint address = Allocate((nuint)bytes + 1);
        Encoding.UTF8.GetBytes(text, new Span<byte>((void*)address, bytes));

        // The terminator is already there: fresh allocations are zeroed.
        return address;
    }

    /// <summary>
    /// Frees the allocation that starts at <paramref name="address"/> (the kernel's <c>pfree</c>), to roll
    /// back a failed load. The size is known to the pool; the memory is wiped and reusable at once.
    /// </summary>
    /// <exception cref="ArgumentException">The address is foreign, interior, or already free.</exception>
    /// <exception cref="InvalidOperationException">The pool is protected.</exception>
    /// <exception cref="ObjectDisposedException">The pool was destroyed.</exception>
    public void Free(nint address)
    {
        using (_core.Lock.EnterScope())
        {
            if (_core.State != PoolState.Writable)
            {
                ThrowHelper.ThrowForState(Name, _core.State, "free", address);
            }

            Chunk chunk = FindChunk(address) ?? throw ThrowHelper.NotOwned(Name, "free", address);
            if (!chunk.IsAllocationStart(address))
            {
                ThrowBadPointer(chunk, "free", address);
            }

            FreeCore(chunk, address);
        }
    }

    /// <summary>Marks the pool's allocation history, for <see cref="RollbackTo"/>.</summary>
    public PoolCheckpoint Checkpoint()
    {
        using (_core.Lock.EnterScope())
        {
            if (_core.State != PoolState.Writable)
            {
                ThrowHelper.ThrowForState(Name, _core.State, "take a checkpoint");
            }

            _log ??= new List<LogEntry>(RollbackLogFloor);
            SetCurrent(_current);
            return new PoolCheckpoint(this, _logSerial, ++_checkpointSerial);
        }
    }

    /// <summary>
    /// Frees, in one step, every allocation made after <paramref name="mark"/> that is still live, and
    /// unmaps the chunks that held only those: a loader that fails halfway calls this instead of a
    /// <see cref="Free"/> per pointer. Marks taken after <paramref name="mark"/> become invalid.
    /// </summary>
    /// <exception cref="ArgumentException">The mark is from another pool, or was invalidated by an earlier rollback.</exception>
    public void RollbackTo(PoolCheckpoint mark)
    {
        using (_core.Lock.EnterScope())
        {
            if (_core.State != PoolState.Writable)
            {
                ThrowHelper.ThrowForState(Name, _core.State, "roll back");
            }

            if (!ReferenceEquals(mark.Pool, this) || _log is null)
            {
                ThrowHelper.ThrowBadCheckpoint(Name, "the checkpoint was not taken on this pool");
            }

            if (mark.Position > _logSerial || (_invalidMarks?.Exists(r => mark.Serial > r.From && mark.Serial <= r.To) ?? false))
            {
                ThrowHelper.ThrowBadCheckpoint(Name, "the checkpoint was invalidated by a rollback to an earlier one");
            }

            // Newest first, so bump cursors fall back and emptied chunks go away. An entry whose address is no longer the
            // start of a live allocation was freed since; an address freed and allocated again is freed once, for its
            // newest allocation, which was made after the older entry, so after the mark too.
            int first = FirstLoggedAtOrAfter(_log, mark.Position);
            for (int i = _log.Count - 1; i >= first; i--)
            {
                nint address = _log[i].Address;
                if (FindChunk(address) is { } chunk && chunk.IsAllocationStart(address))
                {
                    FreeCore(chunk, address);
                }
            }

            _log.RemoveRange(first, _log.Count - first);
            (_invalidMarks ??= []).Add((mark.Serial, _checkpointSerial));
            ShrinkLog(_log);
        }
    }

    /// <summary>
    /// Makes every chunk read-only, for good (the kernel's <c>pmalloc_protect_pool</c>). From now on a
    /// write through any pointer into the pool stops the process, and <c>Allocate</c> and <c>Free</c>
    /// throw. Calling it again does nothing.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The pool was destroyed.</exception>
    public void Protect()
    {
        using (_core.Lock.EnterScope())
        {
            if (_core.State == PoolState.Protected)
            {
                return;
            }

            if (_core.State == PoolState.Destroyed)
            {
                ThrowHelper.ThrowDestroyed(Name, "protect");
            }

            ProtectCore();
            OsMemory.DropSpare(_backing);
            _log = null;
            _logSeen = null;
            _invalidMarks = null;
            _core.State = PoolState.Protected;
            SetCurrent(null);

            // Irreversible, after the state is Protected: a failure leaves the pool protected, and says so.
            try
            {
                _sealer.SealAtProtect(_chunks, keepBackingWritable: _writePath.WritesAfterProtect);
            }
            finally
            {
                // A protected write-once pool holds no descriptor: nothing writes through it again, and the mappings keep
                // the memory. Destroy wipes through the mappings instead (MADV_REMOVE).
                if (!_writePath.WritesAfterProtect)
                {
                    CloseBackings();
                }
            }
        }
    }

    /// <summary>Is <paramref name="address"/> inside a live allocation of this pool? False after <see cref="Dispose"/>.</summary>
    public bool Contains(nint address)
    {
        using (_core.Lock.EnterScope())
        {
            return _core.State != PoolState.Destroyed && TryFindAllocation(address, out _);
        }
    }

    /// <summary>
    /// Copies <c>destination.Length</c> bytes at <paramref name="address"/> out of the pool, after checking that
    /// the whole range lies inside one live allocation (hardened usercopy for reads: the same check as
    /// <see cref="ProtectedMemory.CheckRead"/>, and the range must be in this pool), and that the destination may be
    /// written (the check of <see cref="ProtectedMemory.CheckWrite"/>): a destination in protected memory is refused
    /// with an exception instead of stopping the process. Nothing is written when it throws.
    /// </summary>
    /// <remarks>The destination is checked when the call starts: a pool that another thread protects during the copy is
    /// that thread's race, as with any write into memory being protected.</remarks>
    /// <exception cref="ArgumentException">The address is not in a live allocation of this pool; or the destination lies in
    /// a writable pool outside a live allocation.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The range crosses the end of the allocation; or the destination
    /// crosses the end of one.</exception>
    /// <exception cref="InvalidOperationException">The destination touches protected memory (of any pool, this one included).</exception>
    /// <exception cref="ObjectDisposedException">The pool was destroyed; or the destination is in a destroyed sealed pool.</exception>
    public void Read(nint address, Span<byte> destination)
    {
        // The destination first, and outside this pool's lock: its check takes the lock of the writable pool it lies in,
        // which may be this one.
        WriteTargetCheck.Check((nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(destination)), (nuint)destination.Length);
        using (_core.Lock.EnterScope())
        {
            if (_core.State == PoolState.Destroyed)
            {
                ThrowHelper.ThrowDestroyed(Name, $"read at {ThrowHelper.Hex(address)}");
            }

            _ = CheckRange(address, (nuint)destination.Length, "read", out _);
            new ReadOnlySpan<byte>((void*)address, destination.Length).CopyTo(destination);
        }
    }

    /// <summary>
    /// Destroys the pool (the kernel's <c>pmalloc_destroy_pool</c>): wipes the memory when
    /// <see cref="PoolOptions.WipeOnDestroy"/> is on, unmaps every chunk and closes its memfd. A protected pool
    /// is wiped through its backing; only where the backing was already given up
    /// (<see cref="WriteRarePool.MakeReadOnly"/>) is it made writable again, here only, for the moment of wiping.
    /// A sealed pool can be neither unmapped nor made writable: it is only forgotten, and its memory stays mapped
    /// read-only until the process exits.
    /// Calling it again does nothing.
    /// </summary>
    public void Dispose()
    {
        using (_core.Lock.EnterScope())
        {
            if (_core.State == PoolState.Destroyed)
            {
                return;
            }

            OnDestroying();
            bool wasProtected = _core.State == PoolState.Protected;
            bool wipe = Options.WipeOnDestroy;

            // With the memory file still open and not write-sealed, one punched hole wipes every chunk at the end; else each
            // chunk is wiped through its own mapping before it is unmapped.
            bool punchAll = wipe && _backing.CanPunch;
            foreach (Chunk chunk in _chunks)
            {
                chunk.Retire();
                if (chunk.Mapping.IsSealed)
                {
                    // Sealed memory can be neither unmapped nor made writable (mseal forbids both, for good): it is only
                    // forgotten. It can still be wiped through a backing that is not write-sealed yet (a write-rare pool
                    // before MakeReadOnly, the object cache): the pool's memory file is punched out below, which no seal of a
                    // mapping forbids, and secret memory, which takes no holes, is zeroed by the writer process.
                    // Intentionally ignore failure: there is no other way left, and destroy must not throw.
                    if (wipe && chunk.Mapping.IsSecret && !chunk.Mapping.IsBackingSealed && chunk.UsedBytes != 0)
                    {
                        _ = _writePath.WipeThroughWriter(chunk, chunk.UsedBytes);
                    }

                    _writePath.Release(chunk);
                    ChunkEvents.Publish(ChunkEventKind.ChunkRetired, _core, chunk);

                    // Sealed means protected: lock-free checks may still hold the chunk (see ChunkRegistry).
                    chunk.ReleaseBitmapsAfterReaders();
                    continue;
                }

                ChunkEvents.Publish(ChunkEventKind.ChunkUnmapping, _core, chunk);
                if (wipe && !punchAll)
                {
                    WipeForDestroy(chunk);
                }

                _writePath.Release(chunk);
                OsMemory.Unmap(chunk.Mapping, punch: false);

                // A protected pool's bitmaps may be in use by a lock-free check right now (see ChunkRegistry).
                if (wasProtected)
                {
                    chunk.ReleaseBitmapsAfterReaders();
                }
                else
                {
                    chunk.ReleaseBitmaps();
                }
            }

            if (punchAll)
            {
                // After the unmaps, so no page table maps what is punched. Sealed chunks of a write-rare pool are wiped
                // here too: a hole is punched through the file, which their seals do not forbid.
                // Intentionally ignore failure: the pages go back to the kernel when the file closes below.
                _ = OsMemory.TryPunchAll(_backing);
            }

            CloseBackings();
            _chunks.Clear();
            _log = null;
            _logSeen = null;
            _core.State = PoolState.Destroyed;
            SetCurrent(null);
            _mappedBytes = 0;
            ChunkEvents.Publish(ChunkEventKind.PoolDestroyed, _core);
        }

        GC.SuppressFinalize(this);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{GetType().Name} '{Name}' ({State})";

    /// <summary>Called under the lock at the start of <see cref="Dispose"/>, before any chunk is wiped or unmapped.</summary>
    private protected virtual void OnDestroying()
    {
    }

    /// <summary>Is the pool's lock still biased to the one thread that has used it (for tests; see <see cref="PoolLock"/>)?</summary>
    internal bool LockIsBiased => _core.Lock.IsBiased;
    /// <summary>The smallest capacity of the rollback log, in entries.</summary>
    internal const int RollbackLogFloor = 64;

    /// <summary>The rollback log's capacity in entries, 0 without a mark (for tests).</summary>
    internal int RollbackLogCapacity
    {
        get
        {
            using (_core.Lock.EnterScope())
            {
                return _log?.Capacity ?? 0;
            }
        }
    }

    /// <summary>The chunks, sorted by address. The caller holds the lock, or the pool is protected.</summary>
    internal IReadOnlyList<Chunk> Chunks => _chunks;

    /// <summary>What protect and destroy do about sealing (for <see cref="WriteRarePool.MakeReadOnly"/>).</summary>
    private protected ChunkSealer Sealer => _sealer;

    /// <summary>Walks every chunk's bitmap and checks the allocator's invariants and the pool's totals (expensive; for tests).</summary>
    internal void ValidateInvariants()
    {
        using (_core.Lock.EnterScope())
        {
            long mapped = 0, requested = 0;
            for (int i = 0; i < _chunks.Count; i++)
            {
                Chunk chunk = _chunks[i];
                chunk.ValidateInvariants();
                Debug.Assert(i == 0 || _chunks[i - 1].End <= chunk.Start);
                mapped += (long)chunk.Mapping.Length;
                chunk.ForEachAllocation((_, size) => requested += (long)size);
            }

            long counted = _chunks.Sum(c => ((long)(c.GranuleCount - c.Avail) << _granuleShift) - c.PaddingBytes);
            if (mapped != _mappedBytes || requested != counted)
            {
                throw ThrowHelper.InvariantBroken(
                    $"Pool '{Name}': totals disagree with the bitmaps (mapped {_mappedBytes}/{mapped}, requested {counted}/{requested}).");
            }
        }
    }

    /// <summary>Finds the live allocation that holds <paramref name="address"/>. The caller holds the lock, or the pool is protected.</summary>
    internal bool TryFindAllocation(nint address, out AllocationInfo info)
    {
        if (FindChunk(address) is { } chunk && chunk.TryFind(address, out nint start, out nuint size) && address < start + (nint)size)
        {
            info = new AllocationInfo(Name, start, size);
            return true;
        }

        info = default;
        return false;
    }

    /// <summary>
    /// Throws unless [<paramref name="address"/>, +<paramref name="length"/>) lies inside one live allocation of this pool;
    /// returns it and its chunk (null only for length 0, which is never refused). The caller holds the lock.
    /// </summary>
    internal AllocationInfo CheckRange(nint address, nuint length, string operation, out Chunk? chunk)
    {
        chunk = null;
        if (length == 0)
        {
            return default;
        }

        RangeCheck.NoWrap(Name, address, length, operation);
        chunk = FindChunk(address);
        if (chunk is null)
        {
            ThrowOutsideChunks(address, length, operation);
        }

        return RangeCheck.InChunk(Name, chunk, address, length, operation);
    }

    /// <summary>The chunk whose usable range holds <paramref name="address"/>, or null. Binary search over chunks sorted by address.</summary>
    internal Chunk? FindChunk(nint address)
    {
        int lo = 0, hi = _chunks.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            Chunk chunk = _chunks[mid];
            if (address < chunk.Start)
            {
                hi = mid - 1;
            }
            else if (address >= chunk.End)
            {
                lo = mid + 1;
            }
            else
            {
                return chunk;
            }
        }

        return null;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private nint AllocateSlow(int granules, int padding)
    {
        // Holes left by frees first (first fit, skipping chunks whose avail is too small), then a new chunk.
        foreach (Chunk chunk in _chunks)
        {
            nint address = chunk.TryAllocate(granules, padding);
            if (address != 0)
            {
                return address;
            }
        }

        Chunk fresh = MapChunk((nuint)granules << _granuleShift);
        nint result = fresh.TryAllocate(granules, padding);
        Debug.Assert(result != 0);
        return result;
    }

    /// <summary>
    /// Maps a chunk that holds at least <paramref name="needed"/> bytes and adds it to the pool. On failure the pool is
    /// unchanged, and nothing is left mapped or open.
    /// </summary>
    private Chunk MapChunk(nuint needed)
    {
        // Geometric growth: each chunk is as large as all the chunks before it together, up to the cap; never below the
        // smallest chunk (a set ChunkSize, which may be above the cap; one page by default), and the first allocation's size.
        nuint grow = Math.Max(_chunkSize, (nuint)Math.Min(_mappedBytes, MaxGrowthChunkSize));
        nuint length = OsMemory.RoundUpToPages(Math.Max(grow, needed));

        // The metadata and the room in the chunk list first: if they cannot be had, nothing is mapped yet.
        Chunk chunk;
        try
        {
            _chunks.EnsureCapacity(_chunks.Count + 1);
            chunk = new(length, _granuleShift);
        }
        catch (OutOfMemoryException e)
        {
            throw ThrowHelper.ChunkMetadataOutOfMemory(Name, length, e);
        }

        // The allocation that maps the chunk goes at its start, and is written at once: if it fits in the first page, that
        // page is made present with the mapping, saving the fault of the first store. A larger one's pages are left to
        // fault in as they are written (it may be written sparsely).
        nuint prefault = needed <= (nuint)OsMemory.PageSize ? needed : 0;
        OsResult mapped = OsMemory.TryMap(_backing, length, ChunkFlagsFor(), prefault, out ChunkMapping? mapping);
        if (mapped.Failed)
        {
            chunk.ReleaseBitmaps();
            ThrowHelper.ThrowOs(Name, mapped);
        }

        chunk.Attach(mapping!);
        try
        {
            ChunkEvents.Publish(ChunkEventKind.ChunkMapped, _core, chunk);
        }
        catch
        {
            // An observer could not take the chunk (out of memory): take it back from all of them, and give it back.
            chunk.Retire();
            try
            {
                ChunkEvents.Publish(ChunkEventKind.ChunkUnmapping, _core, chunk);
            }
            finally
            {
                OsMemory.Unmap(chunk.Mapping, punch: true);
                chunk.ReleaseBitmaps();
            }

            throw;
        }

        // Chunks read-only from birth (the object cache's) are sealed now, when the pool asks for it.
        OsResult sealedAtBirth = _sealer.SealAtBirth(chunk);
        if (sealedAtBirth.Failed)
        {
            chunk.Retire();
            ChunkEvents.Publish(ChunkEventKind.ChunkUnmapping, _core, chunk);
            OsMemory.Unmap(chunk.Mapping, punch: true);
            chunk.ReleaseBitmaps();
            ThrowHelper.ThrowOs(Name, sealedAtBirth, chunk.Start);
        }

        // Cannot fail: the capacity was reserved above.
        int index = _chunks.BinarySearch(chunk, ChunkAddressComparer.Instance);
        _chunks.Insert(~index, chunk);
        _mappedBytes += (long)length;

        // A chunk made for one large allocation does not replace the current one: the small ones keep bumping there.
        if (_current is null || length <= grow)
        {
            SetCurrent(chunk);
        }

        return chunk;
    }

    /// <summary>Makes <paramref name="chunk"/> the one to bump, and the fast path's if the pool is writable and keeps no log. Under the lock.</summary>
    private void SetCurrent(Chunk? chunk)
    {
        _current = chunk;
        _fastChunk = _core.State == PoolState.Writable && _log is null ? chunk : null;
    }

    private void FreeCore(Chunk chunk, nint address)
    {
        (int granules, _) = chunk.AllocationAt(address);

        // An emptied chunk goes back to the OS, except the last one (a rollback then leaves the pool as it was), and except
        // a sealed one, which can never be unmapped: it stays, for the next allocations.
        bool unmap = chunk.Avail + granules == chunk.GranuleCount && _chunks.Count > 1 && !chunk.Mapping.IsSealed;

        // Wipe first: the write path can fail (ENOMEM), and then nothing has changed yet. A chunk about to be unmapped is
        // wiped by the hole punched where it was in the memory file.
        if (!unmap)
        {
            OsResult wiped = Wipe(chunk, address, (nuint)granules << _granuleShift);
            if (wiped.Failed)
            {
                ThrowHelper.ThrowOs(Name, wiped, address);
            }
        }

        chunk.Free(address, granules);
        if (unmap)
        {
            Debug.Assert(chunk.IsEmpty);
            _chunks.Remove(chunk);
            _mappedBytes -= (long)chunk.Mapping.Length;
            chunk.Retire();
            ChunkEvents.Publish(ChunkEventKind.ChunkUnmapping, _core, chunk);
            _writePath.Release(chunk);
            OsMemory.Unmap(chunk.Mapping, punch: true);
            chunk.ReleaseBitmaps();
            if (ReferenceEquals(_current, chunk))
            {
                // Bump next where the most never-used room is left.
                SetCurrent(_chunks.MaxBy(c => c.GranuleCount - c.Bump));
            }
        }
    }

    /// <summary>
    /// Zeroes [<paramref name="address"/>, +<paramref name="length"/>) of a chunk for a free, without committing pages that
    /// were never touched: the whole pages inside the range are punched out of the memory file (they read as zeros, and go
    /// back to the kernel), only the partial pages at its ends are zeroed through the write path. Where no hole can be
    /// punched (secret memory), every byte is zeroed through the write path.
    /// </summary>
    private OsResult Wipe(Chunk chunk, nint address, nuint length)
    {
        nuint page = (nuint)OsMemory.PageSize;
        nuint offset = (nuint)(address - chunk.Start);
        nuint first = (offset + page - 1) & ~(page - 1), last = (offset + length) & ~(page - 1);
        bool readOnly = _core.MemoryIsReadOnly;
        if (last > first && chunk.Mapping.TakesHoles)
        {
            OsResult punched = OsMemory.TryPunch(chunk.Mapping, first, last - first);
            if (!punched.Failed)
            {
                OsResult head = first > offset ? _writePath.Fill(chunk, address, 0, first - offset, readOnly) : OsResult.Ok;
                return head.Failed || last == offset + length ? head : _writePath.Fill(chunk, chunk.Start + (nint)last, 0, offset + length - last, readOnly);
            }
        }

        return _writePath.Fill(chunk, address, 0, length, readOnly);
    }

    private void ProtectCore()
    {
        for (int i = 0; i < _chunks.Count; i++)
        {
            OsResult result = OsMemory.TryProtect(_chunks[i].Mapping, writable: false);
            if (result.Failed)
            {
                // Undo what was done, so a failed Protect leaves the pool writable and whole.
                for (int j = 0; j < i; j++)
                {
                    _ = OsMemory.TryProtect(_chunks[j].Mapping, writable: true);
                }

                ThrowHelper.ThrowOs(Name, result, _chunks[i].Start);
            }
        }
    }

    /// <summary>
    /// Wipes every page of the chunk ever handed out, for destroy, where the pool's memory file can no longer be punched
    /// whole (a protected write-once pool closed it at Protect): the pages are given back through the mapping
    /// (<c>MADV_REMOVE</c>), which commits none. Where the kernel refuses that on a read-only mapping (EACCES), a write-once
    /// pool's mapping is made writable for the moment of the wipe, here only; a write-rare pool's never is (the kernel
    /// allows MADV_REMOVE on a read-only shared mapping of a memfd opened for writing, which every chunk's is). Secret memory takes no holes: the
    /// kernel zeroes it when it frees it, at the unmap and close that follow; a read-only secret chunk is zeroed first by the
    /// writer process all the same. Windows sections take no holes either: a read-only chunk is zeroed by the writer process
    /// (write-rare), else through a second view of its section, writable for the moment of the wipe (write-once).
    /// </summary>
    private void WipeForDestroy(Chunk chunk)
    {
        nuint used = chunk.UsedBytes;
        if (used == 0)
        {
            return;
        }

        // Intentionally ignore failures below: destroy must not throw, and the pages go back to the kernel at the unmap.
        ChunkMapping m = chunk.Mapping;
        bool readOnly = _core.MemoryIsReadOnly;
        if (!m.TakesHoles)
        {
            // Secret memory and Windows sections take no holes: their wipe is a store of zeros, by the writer process where
            // the memory is read-only.
            if (!readOnly)
            {
                OsMemory.Wipe(chunk.Start, used);
            }
            else if (!m.IsBackingSealed && _writePath.WipeThroughWriter(chunk, used).Failed && !m.IsSecret)
            {
                // Windows, a protected write-once pool (or a write-rare one without its writer executable): through a
                // second view of the section, writable for the moment of the wipe; the public view stays read-only.
                _ = OsMemory.TryZeroThroughSection(m, used);
            }

            return;
        }

        nuint pages = OsMemory.RoundUpToPages(used);
        if (!m.IsBackingSealed)
        {
            OsResult removed = OsMemory.TryRemove(m, 0, pages);
            if (!removed.Failed || (readOnly && _writePath.WritesAfterProtect))
            {
                return;
            }

            if (removed.Errno == Interop.Errno.EACCES && !OsMemory.TryProtect(m, writable: true).Failed)
            {
                readOnly = false;
                if (!OsMemory.TryRemove(m, 0, pages).Failed)
                {
                    return;
                }
            }
        }

        if (!readOnly || (!_writePath.WritesAfterProtect && !OsMemory.TryProtect(m, writable: true).Failed))
        {
            OsMemory.Wipe(chunk.Start, used);
        }
    }

    /// <summary>Closes the memory file and every secret chunk's own backing: the mappings keep the memory until they are unmapped.</summary>
    private protected void CloseBackings()
    {
        foreach (Chunk chunk in _chunks)
        {
            if (chunk.Mapping.IsSecret)
            {
                OsMemory.CloseBacking(chunk.Mapping);
            }
        }

        OsMemory.CloseBacking(_backing);
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void ThrowBadPointer(Chunk chunk, string operation, nint address)
    {
        if (chunk.TryFind(address, out nint start, out nuint size) && address < start + (nint)size)
        {
            ThrowHelper.ThrowInterior(Name, operation, address, new AllocationInfo(Name, start, size));
        }

        ThrowHelper.ThrowNotAllocated(Name, operation, address);
    }

    /// <summary>The range starts in none of this pool's chunks: in a guard page of one, or outside the pool.</summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void ThrowOutsideChunks(nint address, nuint length, string operation)
    {
        nuint first = unchecked((nuint)address), last = unchecked(first + (length - 1));
        foreach (Chunk chunk in _chunks)
        {
            nuint reservationStart = unchecked((nuint)chunk.Mapping.ReservationStart);
            nuint reservationEnd = reservationStart + chunk.Mapping.ReservationLength;
            if (first < reservationEnd && last >= reservationStart)
            {
                ThrowHelper.ThrowOutsideChunk(Name, operation, address, length, chunk.Start, first < reservationStart);
            }
        }

        throw ThrowHelper.NotOwned(Name, operation, address);
    }

    /// <summary>The hardening in force, for <see cref="Statistics"/>.</summary>
    private PoolHardening HardeningInForce()
    {
        PoolOptions o = Options;
        PoolHardening h = PoolHardening.None;
        h |= o.GuardPages ? PoolHardening.GuardPages : 0;
        h |= o.LockInMemory || o.SecretMemory ? PoolHardening.LockedInMemory : 0;
        h |= (o.ExcludeFromCoreDumps && KernelFeatures.CoreDumpExclusion) || o.SecretMemory ? PoolHardening.ExcludedFromCoreDumps : 0;
        h |= o.SecretMemory ? PoolHardening.SecretMemory : 0;
        h |= _sealer.MappingsSealed ? PoolHardening.MappingsSealed : 0;
        h |= _sealer.BackingSealed ? PoolHardening.BackingSealed : 0;
        // A sealed pool is wiped only through a backing that still takes writes (write-rare before MakeReadOnly, the object cache).
        h |= o.WipeOnDestroy && !(_sealer.MappingsSealed && _sealer.BackingSealed) ? PoolHardening.WipeOnDestroy : 0;
        return h;
    }

    /// <summary>How the OS layer maps this pool's chunks.</summary>
    private ChunkFlags ChunkFlagsFor()
    {
        PoolOptions o = Options;
        ChunkFlags flags = ChunkFlags.None;
        flags |= o.GuardPages ? ChunkFlags.GuardPages : 0;
        flags |= o.LockInMemory ? ChunkFlags.LockInMemory : 0;
        flags |= o.ExcludeFromCoreDumps ? ChunkFlags.ExcludeFromCoreDumps : 0;
        flags |= o.SecretMemory ? ChunkFlags.SecretMemory : 0;
        flags |= _writePath.ChunksBornReadOnly ? ChunkFlags.ReadOnlyFromBirth : 0;
        return flags;
    }

    private static PoolOptions Validate(PoolOptions options)
    {
        // char.IsControl is exactly U+0000 to U+001F and U+007F to U+009F.
        if (string.IsNullOrEmpty(options.Name) || options.Name.Length > 200
            || options.Name.AsSpan().ContainsAnyInRange('\u0000', '\u001F') || options.Name.AsSpan().ContainsAnyInRange('\u007F', '\u009F'))
        {
            ThrowHelper.ThrowBadOption(nameof(PoolOptions.Name), options.Name, "must be 1 to 200 characters with no control characters");
        }

        if (options.Alignment < 8 || options.Alignment > OsMemory.PageSize || !int.IsPow2(options.Alignment))
        {
            ThrowHelper.ThrowBadOption(nameof(PoolOptions.Alignment), options.Alignment, $"must be a power of two from 8 to the page size ({OsMemory.PageSize})");
        }

        if (options.ChunkSize < 1 || options.ChunkSize > (1 << 30))
        {
            ThrowHelper.ThrowBadOption(nameof(PoolOptions.ChunkSize), options.ChunkSize, $"must be from 1 byte to 1 GiB (it is rounded up to whole pages of {OsMemory.PageSize} bytes)");
        }

        if ((uint)options.Seal > (uint)SealMode.Required)
        {
            ThrowHelper.ThrowBadOption(nameof(PoolOptions.Seal), options.Seal, "must be None, IfSupported or Required");
        }

        ChunkSealer.ValidateOptions(options);
        if (options.SecretMemory && !KernelFeatures.MemfdSecret)
        {
            ThrowHelper.ThrowUnsupported(options.Name, OperatingSystem.IsWindows()
                ? "PoolOptions.SecretMemory needs memfd_secret(2), which is Linux's: Windows has no memory the kernel cannot read on the process's behalf."
                : "PoolOptions.SecretMemory needs memfd_secret(2) (Linux 5.14 or later; some kernels also need the boot option secretmem.enable=1).");
        }

        return options;
    }

    /// <summary>
    /// Makes room in the full rollback <paramref name="log"/> before an allocation: drops the entries a rollback would skip
    /// (addresses that are no longer the start of a live allocation, and every entry of an address but its newest, which is
    /// its live allocation's: the older ones were freed before it was made), then sizes the buffer at twice what is left,
    /// and at least <see cref="RollbackLogFloor"/>. Each compaction follows at least half as many allocations as it
    /// scans, so it costs O(1) per allocation. Changes nothing if it runs out of memory.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void CompactLog(List<LogEntry> log)
    {
        HashSet<nint> seen = _logSeen ??= new HashSet<nint>(RollbackLogFloor);
        seen.EnsureCapacity(log.Count);
        Span<LogEntry> entries = CollectionsMarshal.AsSpan(log);
        int kept = 0;
        for (int i = entries.Length - 1; i >= 0; i--)
        {
            nint address = entries[i].Address;
            if (seen.Add(address) && FindChunk(address) is { } chunk && chunk.IsAllocationStart(address))
            {
                kept++;
            }
            else
            {
                entries[i] = default;
            }
        }

        seen.Clear();
        if (entries.Length > 4 * RollbackLogFloor)
        {
            // A large log's set is not kept: it would hold its memory after the log shrinks.
            _logSeen = null;
        }

        int capacity = Math.Max(2 * kept, RollbackLogFloor);
        if (capacity > log.Capacity)
        {
            // If this runs out of memory, the dropped entries stay as address 0, which every rollback and compaction skips.
            log.Capacity = capacity;
            entries = CollectionsMarshal.AsSpan(log);
        }

        int written = 0;
        foreach (LogEntry entry in entries)
        {
            if (entry.Address != 0)
            {
                entries[written++] = entry;
            }
        }

        CollectionsMarshal.SetCount(log, written);
        if (capacity < log.Capacity)
        {
            ShrinkLog(log);
        }
    }

    /// <summary>Gives back the rollback log's buffer beyond twice its entries (and the floor), where that is worth it.</summary>
    private static void ShrinkLog(List<LogEntry> log)
    {
        int capacity = Math.Max(2 * log.Count, RollbackLogFloor);
        if (log.Capacity >= 2 * capacity)
        {
            try
            {
                log.Capacity = capacity;
            }
            catch (OutOfMemoryException)
            {
                // Keep the larger buffer: nothing is lost but memory.
            }
        }
    }

    /// <summary>The index of the first entry of <paramref name="log"/> whose serial is at least <paramref name="serial"/>.</summary>
    private static int FirstLoggedAtOrAfter(List<LogEntry> log, long serial)
    {
        ReadOnlySpan<LogEntry> entries = CollectionsMarshal.AsSpan(log);
        int lo = 0, hi = entries.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (entries[mid].Serial < serial)
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

    /// <summary>One allocation in the rollback log: its address, and its place in the order of logged allocations.</summary>
    private readonly record struct LogEntry(nint Address, long Serial);

    private sealed class ChunkAddressComparer : IComparer<Chunk>
    {
        internal static readonly ChunkAddressComparer Instance = new();

        public int Compare(Chunk? x, Chunk? y) => x!.Start.CompareTo(y!.Start);
    }
}
