using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// A pool for protected data that must change, rarely: a policy root swapped on reload, a generation counter. It is
/// allocated, filled and <see cref="ProtectablePool.Protect">protected</see> like a <see cref="WriteOncePool"/>; after that
/// a write through any pointer still stops the process, but <see cref="Write(nint, ReadOnlySpan{byte})"/>,
/// <see cref="Fill"/>, <see cref="Publish"/>, <see cref="Add"/> and <see cref="CompareExchange"/> can still change the bytes
/// of a live allocation, while no mapping of the pool's memory in this process is ever writable.
/// <see cref="MakeReadOnly"/> ends that for good.
/// </summary>
/// <remarks>
/// <para>Each write call checks, under the pool's lock, that the target range lies inside one live allocation of this
/// pool, else throws and writes nothing. Before <see cref="ProtectablePool.Protect"/> it is a plain store. After it,
/// <c>Write</c> and <c>Fill</c> go through the chunk's memfd (<c>pwrite</c>: the kernel writes the page), and
/// <c>Publish</c>, <c>Add</c> and <c>CompareExchange</c> through the writer process, which holds the only writable mapping,
/// in its own address space, and does each with one atomic instruction (see <see cref="BackingWritePath"/>).
/// A <see cref="BeginWrites">batch</see> holds many writes and writes them together, coalesced.</para>
/// <para>No other thread can race a window in which the pool's memory is writable in this process, because there is none.
/// <c>Publish</c>, <c>Add</c> and <c>CompareExchange</c> are atomic; <c>Write</c> and <c>Fill</c> are not: a reader that must
/// never see a half-written object should reach it through a pointer that is published after the object is complete.</para>
/// </remarks>
public sealed unsafe class WriteRarePool : ProtectablePool
{
    /// <summary>The hardening a batch's scratch memory copies from the pool.</summary>
    private readonly ChunkFlags _hardening;

    /// <summary>Batches not yet ended: <see cref="MakeReadOnly"/> flushes and ends them, <c>Dispose</c> ends them.</summary>
    private readonly List<WriteRareBatch> _batches = [];

    /// <summary>The write path, typed: the atomic updates and the writer's registrations are its own.</summary>
    private readonly BackingWritePath _path;

    /// <summary>Set for good by <see cref="MakeReadOnly"/>.</summary>
    private bool _readOnly;

    /// <summary>An ended batch's buffer (wiped), for the next batch: most batches then allocate nothing. Under the lock.</summary>
    private PendingWrites? _spare;

    /// <summary>Creates an empty pool; no memory is mapped until the first allocation.</summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public WriteRarePool(PoolOptions? options = null)
        : this(options, new BackingWritePath(chunksBornReadOnly: false))
    {
    }

    /// <summary>The object cache's pool: chunks read-only from birth, written only through the write-rare path.</summary>
    internal WriteRarePool(PoolOptions? options, bool chunksBornReadOnly)
        : this(options, new BackingWritePath(chunksBornReadOnly))
    {
    }

    private WriteRarePool(PoolOptions? options, BackingWritePath path)
        : base(options, path)
    {
        _path = path;
        _hardening = (Options.ExcludeFromCoreDumps ? ChunkFlags.ExcludeFromCoreDumps : 0)
            | (Options.LockInMemory ? ChunkFlags.LockInMemory : 0)
            | (Options.SecretMemory ? ChunkFlags.SecretMemory : 0);
    }

    /// <summary>True once <see cref="MakeReadOnly"/> was called: the pool is write-once from then on.</summary>
    public bool IsReadOnly => Volatile.Read(ref _readOnly);

    /// <summary>How many of this pool's chunks the writer process has mapped now (for tests).</summary>
    internal int WriterMappings
    {
        get
        {
            using (_core.Lock.EnterScope())
            {
                return _path.RegisteredChunks;
            }
        }
    }

    /// <summary>Writes <paramref name="value"/> over <paramref name="target"/>, a reference into a live allocation of this pool.</summary>
    /// <remarks>After Protect, one <c>pwrite</c> to the chunk's memfd; not atomic (use <see cref="Publish"/> for one atomic pointer store).</remarks>
    /// <exception cref="ArgumentException">The target is not in a live allocation of this pool.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The value would cross the end of the allocation.</exception>
    /// <exception cref="InvalidOperationException">The pool was made read-only.</exception>
    /// <exception cref="ObjectDisposedException">The pool was destroyed.</exception>
    public void Write<T>(ref readonly T target, in T value)
        where T : unmanaged => WriteChecked(null, AddressOf(in target), MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

    /// <summary>Copies <paramref name="source"/> to <paramref name="target"/> (the kernel's <c>wr_memcpy</c>); the range must lie inside one live allocation.</summary>
    /// <remarks>After Protect, <c>pwrite</c> to the chunk's memfd (the writer process, for secret memory); not atomic.</remarks>
    /// <inheritdoc cref="Write{T}(ref readonly T, in T)" path="/exception"/>
    public void Write(nint target, ReadOnlySpan<byte> source) => WriteChecked(null, target, source);

    /// <summary>Sets <paramref name="length"/> bytes at <paramref name="target"/> to <paramref name="value"/> (the kernel's <c>wr_memset</c>); the range must lie inside one live allocation.</summary>
    /// <remarks>After Protect, <c>pwrite</c> to the chunk's memfd (the writer process, for secret memory); not atomic.</remarks>
    /// <inheritdoc cref="Write{T}(ref readonly T, in T)" path="/exception"/>
    public void Fill(nint target, byte value, nuint length) => FillChecked(null, target, value, length);

    /// <summary>
    /// Stores <paramref name="value"/> into <paramref name="slot"/> in one atomic, release-ordered store (the kernel's
    /// <c>wr_rcu_assign_pointer</c>): a reader on another thread sees the old or the new pointer, never a torn one, and
    /// everything written before the call is visible to whoever reads the new pointer.
    /// </summary>
    /// <remarks>After Protect, one release store by the writer process, in its own mapping: a round trip over its socket.</remarks>
    /// <exception cref="ArgumentException">The slot is not pointer-aligned, or not in a live allocation of this pool.</exception>
    /// <exception cref="IOException">The writer process cannot be started (the message names its path) or died.</exception>
    /// <inheritdoc cref="Write{T}(ref readonly T, in T)" path="/exception"/>
    public void Publish(ref readonly nint slot, nint value) => PublishChecked(null, AddressOf(in slot), value);

    /// <summary>
    /// Adds <paramref name="delta"/> to <paramref name="target"/> atomically and returns the new value: exact under any
    /// contention, and a lock-free reader sees the old or the new value, never a torn one.
    /// </summary>
    /// <remarks>Before Protect, <see cref="Interlocked.Add(ref long, long)"/>; after it, one atomic instruction in the writer process.</remarks>
    /// <exception cref="ArgumentException">The target is not 8-byte aligned, or not in a live allocation of this pool.</exception>
    /// <inheritdoc cref="Publish(ref readonly nint, nint)" path="/exception"/>
    public long Add(ref readonly long target, long delta) => AddChecked(null, AddressOf(in target), delta);

    /// <summary>
    /// Stores <paramref name="value"/> into <paramref name="target"/> if it holds <paramref name="comparand"/>, atomically,
    /// and returns the value it held (equal to <paramref name="comparand"/> when the exchange happened).
    /// </summary>
    /// <remarks>Before Protect, <see cref="Interlocked.CompareExchange(ref long, long, long)"/>; after it, one atomic instruction in the writer process.</remarks>
    /// <inheritdoc cref="Add(ref readonly long, long)" path="/exception"/>
    public long CompareExchange(ref readonly long target, long value, long comparand) => CompareExchangeChecked(null, AddressOf(in target), value, comparand);

    /// <summary>
    /// Starts a batch: writes checked at once and held until the batch is flushed (<see cref="WriteRareBatch.Flush"/>,
    /// its Dispose, or an atomic call through it), then written together with as few <c>pwrite</c> calls as possible.
    /// </summary>
    /// <exception cref="InvalidOperationException">The pool was made read-only.</exception>
    /// <exception cref="ObjectDisposedException">The pool was destroyed.</exception>
    public WriteRareBatch BeginWrites()
    {
        using (_core.Lock.EnterScope())
        {
            CheckCanWrite(null, "begin writes", 0);
            WriteRareBatch batch = new(this);
            _batches.Add(batch);
            return batch;
        }
    }

    /// <summary>
    /// Ends write-rare for good (the kernel's <c>pmalloc_make_pool_ro</c>): protects the pool if it was not yet, flushes and
    /// ends every open batch, has the writer process unmap the pool, and gives up the means to write: the pool's memfd is
    /// closed (write-sealed first, for a sealed pool), so from now on the pool holds no descriptor. Every later write call
    /// throws <see cref="InvalidOperationException"/>. Calling it again does nothing.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The pool was destroyed.</exception>
    /// <exception cref="IOException">A batch's flush failed: the batches are ended, the pool is not read-only yet. Or, with
    /// <see cref="SealMode.Required"/>, the memfd's <c>F_SEAL_WRITE</c> was refused (<c>EBUSY</c>): a writable mapping of the
    /// pool's memory that is not the pool's survives (made while the pool took writes, by a forked child or by code that
    /// mapped its descriptor). The pool is read-only then, and sealed against every later write, but not against that mapping.</exception>
    public void MakeReadOnly()
    {
        if (State == PoolState.Destroyed)
        {
            ThrowHelper.ThrowDestroyed(Name, "make read-only");
        }

        // Protect takes the (non-reentrant) lock itself; nothing can make the pool writable again in between.
        Protect();
        using (_core.Lock.EnterScope())
        {
            if (State == PoolState.Destroyed)
            {
                ThrowHelper.ThrowDestroyed(Name, "make read-only");
            }

            if (_readOnly)
            {
                return;
            }

            try
            {
                foreach (WriteRareBatch batch in _batches)
                {
                    FlushLocked(batch);
                }
            }
            finally
            {
                EndBatches();
                _spare?.Dispose();
                _spare = null;
            }

            _path.ReleaseAll();

            // A sealed pool's memfds get their write seal now (Protect left them writable for us), before they close:
            // closing alone would not stop a reopen through /proc/self/map_files. The writer has unmapped the pool (each
            // unregister is answered once its munmap is done), so F_SEAL_WRITE fails only for a mapping that is not ours.
            Sealer.SealBacking(Chunks);
            // From now on the pool holds no descriptor. Dispose's wipe gives the pages back through the read-only mappings
            // (MADV_REMOVE), never through a writable one; secret memory is zeroed by the kernel when it frees it.
            CloseBackings();

            Volatile.Write(ref _readOnly, true);
            Sealer.ThrowIfWritableElsewhere(Chunks, "read-only");
        }
    }

    /// <summary>Write, checked under the lock, by the pool itself (<paramref name="batch"/> null) or held by a batch.</summary>
    internal void WriteChecked(WriteRareBatch? batch, nint target, ReadOnlySpan<byte> source)
    {
        bool update;
        using (_core.Lock.EnterScope())
        {
            if (CheckTarget(batch, "write", target, (nuint)source.Length) is not { } chunk)
            {
                // Nothing to write: a range of length 0 is never refused.
                return;
            }

            if (batch is not null && !StoresArePlain)
            {
                // Copied now, so a source inside the pool is read as it is now.
                ThrowIfFailed(batch.TryHold(chunk, target, source, ref _spare, _hardening), target);
            }
            else
            {
                if (Overlaps(source, target))
                {
                    // The kernel copies forwards, so memmove's overlap handling is not there: copy the source first.
                    source = source.ToArray();
                }

                ThrowIfFailed(_writePath.Write(chunk, target, source, readOnly: !StoresArePlain), target);
            }

            update = !StoresArePlain;
        }

        CountUpdate(update);
    }

    /// <summary>Fill, checked under the lock, by the pool itself (<paramref name="batch"/> null) or held by a batch.</summary>
    internal void FillChecked(WriteRareBatch? batch, nint target, byte value, nuint length)
    {
        bool update;
        using (_core.Lock.EnterScope())
        {
            if (CheckTarget(batch, "fill", target, length) is not { } chunk)
            {
                return;
            }

            if (batch is not null && !StoresArePlain)
            {
                batch.HoldFill(chunk, target, value, length, ref _spare, _hardening);
            }
            else
            {
                ThrowIfFailed(_writePath.Fill(chunk, target, value, length, readOnly: !StoresArePlain), target);
            }

            update = !StoresArePlain;
        }

        CountUpdate(update);
    }

    /// <summary>Publish, checked under the lock, by the pool itself (<paramref name="batch"/> null) or through a batch, flushed first.</summary>
    internal void PublishChecked(WriteRareBatch? batch, nint slot, nint value)
    {
        bool update;
        using (_core.Lock.EnterScope())
        {
            Chunk chunk = CheckWord(batch, "publish", slot);
            ThrowIfFailed(_writePath.Publish(chunk, slot, value, readOnly: !StoresArePlain), slot);
            update = !StoresArePlain;
        }

        CountUpdate(update);
    }

    /// <summary>Add, checked under the lock, by the pool itself (<paramref name="batch"/> null) or through a batch, flushed first.</summary>
    internal long AddChecked(WriteRareBatch? batch, nint target, long delta)
    {
        long result;
        bool update;
        using (_core.Lock.EnterScope())
        {
            Chunk chunk = CheckWord(batch, "add", target);
            ThrowIfFailed(_path.Add(chunk, target, delta, !StoresArePlain, out result), target);
            update = !StoresArePlain;
        }

        CountUpdate(update);
        return result;
    }

    /// <summary>CompareExchange, checked under the lock, by the pool itself (<paramref name="batch"/> null) or through a batch, flushed first.</summary>
    internal long CompareExchangeChecked(WriteRareBatch? batch, nint target, long value, long comparand)
    {
        long original;
        bool update;
        using (_core.Lock.EnterScope())
        {
            Chunk chunk = CheckWord(batch, "compare-exchange", target);
            ThrowIfFailed(_path.CompareExchange(chunk, target, value, comparand, !StoresArePlain, out original), target);
            update = !StoresArePlain;
        }

        CountUpdate(update);
        return original;
    }

    /// <summary>Writes what <paramref name="batch"/> holds.</summary>
    internal void FlushBatch(WriteRareBatch batch)
    {
        using (_core.Lock.EnterScope())
        {
            CheckCanWrite(batch, "flush a batch", 0);
            FlushLocked(batch);
        }
    }

    /// <summary>Allocates <c>initial.Length</c> bytes and writes <paramref name="initial"/> there (the object cache's Create).</summary>
    /// <remarks>Two steps under the lock, not one: no one else knows the address in between, and a failed write frees it again.</remarks>
    internal nint AllocateInitialized(ReadOnlySpan<byte> initial)
    {
        nint address = Allocate((nuint)initial.Length);
        if (initial.IndexOfAnyExcept((byte)0) < 0)
        {
            // Fresh allocations are zero already.
            return address;
        }

        try
        {
            WriteChecked(null, address, initial);
        }
        catch when (State == PoolState.Writable)
        {
            Free(address);
            throw;
        }

        return address;
    }

    /// <summary>Ends <paramref name="batch"/>: flushes it, frees its buffer. Idempotent; ended even if the flush throws.</summary>
    internal void EndBatch(WriteRareBatch batch)
    {
        using (_core.Lock.EnterScope())
        {
            if (!batch.IsOpen)
            {
                return;
            }

            try
            {
                FlushLocked(batch);
            }
            finally
            {
                batch.End(ref _spare);
                _ = _batches.Remove(batch);
            }
        }
    }

    /// <summary>Dispose ends every batch, dropping what they hold, and frees the spare buffer; the chunks' writer mappings go with the chunks.</summary>
    private protected override void OnDestroying()
    {
        EndBatches();
        _spare?.Dispose();
        _spare = null;
    }

    /// <summary>Before Protect, and unless the chunks are read-only from birth, a write is a plain store.</summary>
    private bool StoresArePlain => !_core.MemoryIsReadOnly;

    private static nint AddressOf<T>(ref readonly T reference)
        where T : unmanaged => (nint)Unsafe.AsPointer(ref Unsafe.AsRef(in reference));

    private static bool Overlaps(ReadOnlySpan<byte> source, nint target)
    {
        nint from = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(source));
        return from < target + source.Length && target < from + source.Length;
    }

    private void ThrowIfFailed(OsResult result, nint target)
    {
        if (result.Failed)
        {
            ThrowHelper.ThrowOs(Name, result, target);
        }
    }

    /// <summary>Writes what <paramref name="batch"/> holds. The caller holds the lock.</summary>
    private void FlushLocked(WriteRareBatch batch)
    {
        OsResult flushed = batch.FlushPending(_writePath, out nint failedAt);
        if (!flushed.Failed)
        {
            return;
        }

        ThrowIfFailed(flushed, failedAt);
    }

    private void EndBatches()
    {
        foreach (WriteRareBatch batch in _batches)
        {
            batch.End(ref _spare);
        }

        _batches.Clear();
    }

    /// <summary>Throws unless the pool (and the batch, if any) can still write. The caller holds the lock.</summary>
    private void CheckCanWrite(WriteRareBatch? batch, string operation, nint address)
    {
        if (State == PoolState.Destroyed)
        {
            ThrowHelper.ThrowForState(Name, PoolState.Destroyed, operation, address);
        }

        if (_readOnly)
        {
            ThrowHelper.ThrowMadeReadOnly(Name, operation, address);
        }

        if (batch is { IsOpen: false })
        {
            ThrowHelper.ThrowBatchEnded(Name, operation, address);
        }
    }

    /// <summary>
    /// Counts a write-rare update in the <c>Pmalloc</c> meter, when it changed memory that is read-only. Called after the
    /// pool's lock is released: a listener's callback runs inside <c>Add</c>, and may call into this pool.
    /// </summary>
    private void CountUpdate(bool update)
    {
        if (update)
        {
            PoolMetrics.CountWriteRareUpdate(Name);
        }
    }

    /// <summary>
    /// Throws unless a write of <paramref name="length"/> bytes at <paramref name="target"/> is allowed; returns the target's
    /// chunk, from the range check itself (null only for length 0, which writes nothing). The caller holds the lock.
    /// </summary>
    private Chunk? CheckTarget(WriteRareBatch? batch, string operation, nint target, nuint length)
    {
        CheckCanWrite(batch, operation, target);
        _ = CheckRange(target, length, operation, out Chunk? chunk);
        return chunk;
    }

    /// <summary>
    /// The checks of an atomic 8-byte operation (a live allocation of this pool, 8-byte aligned), then the flush of the
    /// batch it goes through, so it orders after every write the batch held. The caller holds the lock.
    /// </summary>
    private Chunk CheckWord(WriteRareBatch? batch, string operation, nint target)
    {
        CheckCanWrite(batch, operation, target);
        if (target % sizeof(long) != 0)
        {
            ThrowHelper.ThrowMisaligned(Name, operation, target, sizeof(long));
        }

        Chunk chunk = CheckTarget(batch, operation, target, sizeof(long))!;
        if (batch is not null)
        {
            FlushLocked(batch);
        }

        return chunk;
    }
}
