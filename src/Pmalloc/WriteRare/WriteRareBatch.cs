using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// Many write-rare writes to one <see cref="WriteRarePool"/>, held and then written together: a reload that updates many
/// fields pays for a few <c>pwrite</c> calls instead of one per write. From <see cref="WriteRarePool.BeginWrites"/> until
/// <see cref="Dispose"/>.
/// </summary>
/// <remarks>
/// <para><b>When the writes become visible.</b> After <see cref="ProtectablePool.Protect"/>, <see cref="Write(nint, ReadOnlySpan{byte})"/>
/// and <see cref="Fill"/> are checked at once (one live allocation of this pool, else an exception and nothing held) and
/// then <i>held</i>: reads through the pool's pointers keep seeing the old bytes until the batch is flushed, which happens at
/// <see cref="Flush"/>, at <see cref="Dispose"/>, at <see cref="WriteRarePool.MakeReadOnly"/> (every open batch), and at the
/// start of every atomic call through the batch (<see cref="Publish"/>, <see cref="Add"/>, <see cref="CompareExchange"/>),
/// so a pointer published through the batch never points at data still held. A flush writes the held writes in call order
/// (a later write to the same byte wins); writes to one chunk less than 2 KiB apart go in one <c>pwrite</c>. Like a single
/// <c>Write</c>, a flush is not atomic for readers. Disposing the pool drops what a batch still holds.
/// Before Protect, the batch's writes are plain stores, visible at once.</para>
/// <para><b>No window.</b> No mapping of the pool's memory is writable in this process at any moment; held bytes (and
/// the runs a flush assembles) live in scratch memory with the pool's hardening (excluded from core dumps, locked), wiped
/// after each flush.</para>
/// <para>Thread-safe: each call takes the pool's lock.</para>
/// </remarks>
public sealed class WriteRareBatch : IDisposable
{
    private PendingWrites? _pending;

    internal WriteRareBatch(WriteRarePool pool) => Pool = pool;

    /// <summary>The pool this batch writes to.</summary>
    public WriteRarePool Pool { get; }

    /// <summary>False once the batch was disposed, or ended by <see cref="WriteRarePool.MakeReadOnly"/> or the pool's Dispose. Read under the pool's lock.</summary>
    internal bool IsOpen { get; private set; } = true;

    /// <summary>Writes waiting for the flush (for tests).</summary>
    internal int PendingCount => _pending?.Count ?? 0;

    /// <summary>Where the batch holds its bytes, or 0 (for tests).</summary>
    internal nint BufferAddress => _pending?.BufferAddress ?? 0;

    /// <summary>How many <c>pwrite</c> (or writer) calls the last flush made (for tests).</summary>
    internal int LastFlushCalls => _pending?.LastFlushCalls ?? 0;

    /// <summary>Holds a write of <paramref name="value"/> over <paramref name="target"/>, checked now, written at the next flush.</summary>
    /// <inheritdoc cref="WriteRarePool.Write{T}(ref readonly T, in T)" path="/exception"/>
    /// <exception cref="ObjectDisposedException">The batch or the pool was disposed.</exception>
    public unsafe void Write<T>(ref readonly T target, in T value)
        where T : unmanaged => Pool.WriteChecked(this, (nint)Unsafe.AsPointer(ref Unsafe.AsRef(in target)), MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

    /// <summary>Holds a copy of <paramref name="source"/> for <paramref name="target"/>, checked now, written at the next flush.</summary>
    /// <inheritdoc cref="WriteRarePool.Write(nint, ReadOnlySpan{byte})" path="/exception"/>
    /// <exception cref="ObjectDisposedException">The batch or the pool was disposed.</exception>
    public void Write(nint target, ReadOnlySpan<byte> source) => Pool.WriteChecked(this, target, source);

    /// <summary>Holds a fill of <paramref name="length"/> bytes at <paramref name="target"/>, checked now, written at the next flush.</summary>
    /// <inheritdoc cref="WriteRarePool.Fill(nint, byte, nuint)" path="/exception"/>
    /// <exception cref="ObjectDisposedException">The batch or the pool was disposed.</exception>
    public void Fill(nint target, byte value, nuint length) => Pool.FillChecked(this, target, value, length);

    /// <summary>Flushes the batch, then stores <paramref name="value"/> into <paramref name="slot"/> like <see cref="WriteRarePool.Publish"/>.</summary>
    /// <inheritdoc cref="WriteRarePool.Publish(ref readonly nint, nint)" path="/exception"/>
    /// <exception cref="ObjectDisposedException">The batch or the pool was disposed.</exception>
    public unsafe void Publish(ref readonly nint slot, nint value) => Pool.PublishChecked(this, (nint)Unsafe.AsPointer(ref Unsafe.AsRef(in slot)), value);

    /// <summary>Flushes the batch, then adds atomically like <see cref="WriteRarePool.Add"/>.</summary>
    /// <inheritdoc cref="WriteRarePool.Add(ref readonly long, long)" path="/exception"/>
    /// <exception cref="ObjectDisposedException">The batch or the pool was disposed.</exception>
    public unsafe long Add(ref readonly long target, long delta) => Pool.AddChecked(this, (nint)Unsafe.AsPointer(ref Unsafe.AsRef(in target)), delta);

    /// <summary>Flushes the batch, then compares and exchanges atomically like <see cref="WriteRarePool.CompareExchange"/>.</summary>
    /// <inheritdoc cref="WriteRarePool.CompareExchange(ref readonly long, long, long)" path="/exception"/>
    /// <exception cref="ObjectDisposedException">The batch or the pool was disposed.</exception>
    public unsafe long CompareExchange(ref readonly long target, long value, long comparand) =>
        Pool.CompareExchangeChecked(this, (nint)Unsafe.AsPointer(ref Unsafe.AsRef(in target)), value, comparand);

    /// <summary>
    /// Writes every held write now, in call order, and empties the batch; the batch stays open. If a write fails (out of
    /// memory), the exception names the address, the writes before it were written, and the rest are dropped.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The batch or the pool was disposed.</exception>
    /// <exception cref="InvalidOperationException">The pool was made read-only (which flushed the batch already).</exception>
    public void Flush() => Pool.FlushBatch(this);

    /// <summary>Flushes the batch and ends it. Later calls through it throw <see cref="ObjectDisposedException"/>. Calling it again does nothing.</summary>
    /// <exception cref="IOException">The flush failed (see <see cref="Flush"/>); the batch is ended anyway.</exception>
    public void Dispose() => Pool.EndBatch(this);

    /// <summary>Holds a checked write in <paramref name="spare"/>'s buffer if the batch has none yet. The caller holds the pool's lock.</summary>
    internal OsResult TryHold(Chunk chunk, nint target, ReadOnlySpan<byte> source, ref PendingWrites? spare, ChunkFlags poolFlags) =>
        Pending(ref spare, poolFlags).TryAdd(chunk, target, source);

    /// <summary>Holds a checked fill. The caller holds the pool's lock.</summary>
    internal void HoldFill(Chunk chunk, nint target, byte value, nuint length, ref PendingWrites? spare, ChunkFlags poolFlags) =>
        Pending(ref spare, poolFlags).AddFill(chunk, target, value, length);

    /// <summary>Writes what is held through <paramref name="path"/>. The caller holds the pool's lock.</summary>
    internal OsResult FlushPending(WritePath path, out nint failedAt)
    {
        failedAt = 0;
        return _pending is null ? OsResult.Ok : _pending.Flush(path, out failedAt);
    }

    /// <summary>
    /// Closes the batch, dropping anything still held, and wipes its buffer: kept in <paramref name="spare"/> for the pool's
    /// next batch if that is empty, else freed. The caller holds the pool's lock.
    /// </summary>
    internal void End(ref PendingWrites? spare)
    {
        if (_pending is { } pending)
        {
            pending.Clear();
            if (spare is null)
            {
                spare = pending;
            }
            else
            {
                pending.Dispose();
            }

            _pending = null;
        }

        IsOpen = false;
    }

    private PendingWrites Pending(ref PendingWrites? spare, ChunkFlags poolFlags)
    {
        if (_pending is null)
        {
            _pending = spare ?? new PendingWrites(poolFlags);
            spare = null;
        }

        return _pending;
    }
}
