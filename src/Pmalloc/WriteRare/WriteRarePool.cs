using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// A pool for protected data that must change, rarely: a policy root swapped on reload, a generation counter. It is
/// allocated, filled and <see cref="ProtectablePool.Protect">protected</see> like a <see cref="WriteOncePool"/>; after that
/// a write through any pointer still stops the process, but <see cref="Write(nint, ReadOnlySpan{byte})"/>,
/// <see cref="Fill"/> and <see cref="Publish"/> can still change the bytes of a live allocation, without ever making the
/// public mapping writable. <see cref="MakeReadOnly"/> ends that for good.
/// </summary>
/// <remarks>
/// <para>Each write call checks, under the pool's lock, that the target range lies inside one live allocation of this
/// pool, else throws and writes nothing. Before <see cref="ProtectablePool.Protect"/> it is a plain store. After it,
/// <c>Write</c> and <c>Fill</c> go through the chunk's memfd (<c>pwrite</c>: the kernel writes the page), and
/// <c>Publish</c> through a private writable alias of the one page it touches, unmapped before it returns (see
/// <see cref="BackingWritePath"/>). A <see cref="BeginWrites">batch</see> shares one alias per touched chunk between many writes.</para>
/// <para>The pool's public addresses stay read-only throughout: no other thread can race a window in which they are
/// writable, because there is none. Only <see cref="Publish"/> is atomic; a reader that must never see a half-written
/// object should read it through a pointer that is published after the object is complete.</para>
/// </remarks>
public sealed unsafe class WriteRarePool : ProtectablePool
{
    /// <summary>Batches not yet ended: <see cref="MakeReadOnly"/> and <c>Dispose</c> end them, so no alias outlives the means to write.</summary>
    private readonly List<WriteRareBatch> _batches = [];

    /// <summary>Set for good by <see cref="MakeReadOnly"/>.</summary>
    private bool _readOnly;

    /// <summary>Creates an empty pool; no memory is mapped until the first allocation.</summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public WriteRarePool(PoolOptions? options = null)
        : base(options, new BackingWritePath(chunksBornReadOnly: false))
    {
    }

    /// <summary>The object cache's pool: chunks read-only from birth, written only through the write-rare path.</summary>
    internal WriteRarePool(PoolOptions? options, bool chunksBornReadOnly)
        : base(options, new BackingWritePath(chunksBornReadOnly))
    {
    }

    /// <summary>True once <see cref="MakeReadOnly"/> was called: the pool is write-once from then on.</summary>
    public bool IsReadOnly => Volatile.Read(ref _readOnly);

    /// <summary>Writes <paramref name="value"/> over <paramref name="target"/>, a reference into a live allocation of this pool.</summary>
    /// <remarks>Not atomic (use <see cref="Publish"/> for one atomic pointer store).</remarks>
    /// <exception cref="ArgumentException">The target is not in a live allocation of this pool.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The value would cross the end of the allocation.</exception>
    /// <exception cref="InvalidOperationException">The pool was made read-only.</exception>
    /// <exception cref="ObjectDisposedException">The pool was destroyed.</exception>
    public void Write<T>(ref readonly T target, in T value)
        where T : unmanaged => WriteChecked(null, AddressOf(in target), MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

    /// <summary>Copies <paramref name="source"/> to <paramref name="target"/> (the kernel's <c>wr_memcpy</c>); the range must lie inside one live allocation.</summary>
    /// <inheritdoc cref="Write{T}(ref readonly T, in T)" path="/exception"/>
    public void Write(nint target, ReadOnlySpan<byte> source) => WriteChecked(null, target, source);

    /// <summary>Sets <paramref name="length"/> bytes at <paramref name="target"/> to <paramref name="value"/> (the kernel's <c>wr_memset</c>); the range must lie inside one live allocation.</summary>
    /// <inheritdoc cref="Write{T}(ref readonly T, in T)" path="/exception"/>
    public void Fill(nint target, byte value, nuint length) => FillChecked(null, target, value, length);

    /// <summary>
    /// Stores <paramref name="value"/> into <paramref name="slot"/> in one atomic, release-ordered store (the kernel's
    /// <c>wr_rcu_assign_pointer</c>): a reader on another thread sees the old or the new pointer, never a torn one, and
    /// everything written before the call is visible to whoever reads the new pointer.
    /// </summary>
    /// <exception cref="ArgumentException">The slot is not pointer-aligned, or not in a live allocation of this pool.</exception>
    /// <inheritdoc cref="Write{T}(ref readonly T, in T)" path="/exception"/>
    public void Publish(ref readonly nint slot, nint value) => PublishChecked(null, AddressOf(in slot), value);

    /// <summary>
    /// Starts a batch: many writes that share one private writable alias per touched chunk, mapped on first use and
    /// unmapped when the batch is disposed (for a reload that updates many fields). Dispose it promptly.
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
    /// Ends write-rare for good (the kernel's <c>pmalloc_make_pool_ro</c>): protects the pool if it was not yet, ends every
    /// open batch, and gives up the means to write (each chunk's memfd is closed). Every later write call throws
    /// <see cref="InvalidOperationException"/>. Calling it again does nothing.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The pool was destroyed.</exception>
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

            EndBatches();

            // A sealed pool's memfds get their write seal now (Protect left them writable for us), before they close:
            // closing alone would not stop a reopen through /proc/self/map_files.
            Sealer.SealBacking(Chunks);
            foreach (Chunk chunk in Chunks)
            {
                OsMemory.CloseBacking(chunk.Mapping);
            }

            Volatile.Write(ref _readOnly, true);
        }
    }

    /// <summary>Write, checked under the lock, by the pool itself (<paramref name="batch"/> null) or through a batch's aliases.</summary>
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

            if (Overlaps(source, target))
            {
                // The kernel and an alias both copy forwards, and an alias has another address, so memmove could not see the overlap.
                source = source.ToArray();
            }

            if (batch is not null && !StoresArePlain)
            {
                source.CopyTo(new Span<byte>((void*)batch.AliasOf(chunk, target), source.Length));
            }
            else
            {
                ThrowIfFailed(_writePath.Write(chunk, target, source, readOnly: !StoresArePlain), target);
            }

            update = !StoresArePlain;
        }

        CountUpdate(update);
    }

    /// <summary>Fill, checked under the lock, by the pool itself (<paramref name="batch"/> null) or through a batch's aliases.</summary>
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
                NativeMemory.Fill((void*)batch.AliasOf(chunk, target), length, value);
            }
            else
            {
                ThrowIfFailed(_writePath.Fill(chunk, target, value, length, readOnly: !StoresArePlain), target);
            }

            update = !StoresArePlain;
        }

        CountUpdate(update);
    }

    /// <summary>Publish, checked under the lock, by the pool itself (<paramref name="batch"/> null) or through a batch's aliases.</summary>
    internal void PublishChecked(WriteRareBatch? batch, nint slot, nint value)
    {
        bool update;
        using (_core.Lock.EnterScope())
        {
            CheckCanWrite(batch, "publish", slot);
            if (slot % sizeof(nint) != 0)
            {
                ThrowHelper.ThrowMisaligned(Name, "publish", slot, sizeof(nint));
            }

            Chunk chunk = CheckTarget(batch, "publish", slot, (nuint)sizeof(nint))!;
            if (batch is not null && !StoresArePlain)
            {
                Volatile.Write(ref *(nint*)batch.AliasOf(chunk, slot), value);
            }
            else
            {
                ThrowIfFailed(_writePath.Publish(chunk, slot, value, readOnly: !StoresArePlain), slot);
            }

            update = !StoresArePlain;
        }

        CountUpdate(update);
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

    /// <summary>Ends <paramref name="batch"/>: unmaps its aliases. Idempotent.</summary>
    internal void EndBatch(WriteRareBatch batch)
    {
        using (_core.Lock.EnterScope())
        {
            if (batch.IsOpen)
            {
                batch.End();
                _ = _batches.Remove(batch);
            }
        }
    }

    private protected override void OnDestroying() => EndBatches();

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

    private void EndBatches()
    {
        foreach (WriteRareBatch batch in _batches)
        {
            batch.End();
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
}
