using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// A batch's writes after Protect, checked when they were made and held until the flush, which writes them in call order
/// (a later write to the same byte wins) with as few <c>pwrite</c> calls as it can. Used under the pool's lock.
/// </summary>
/// <remarks>
/// <para><b>Coalescing.</b> Sorted by address, writes to one chunk less than <see cref="Gap"/> bytes apart form one run,
/// written with one call: the run is assembled in the batch buffer from the bytes there now (read through the public,
/// read-only mapping) with every write of the run applied over them in call order. The bytes between two writes are
/// rewritten with their own value; that is safe because every change to a protected write-rare pool's memory takes the
/// pool's lock, which the flush holds, and a lock-free reader of those bytes sees the same value throughout. A gap is
/// smaller than any page, so a run never touches a page that none of its writes touches. A run of one write is written
/// straight from where it waits.</para>
/// </remarks>
internal sealed unsafe class PendingWrites : IDisposable
{
    /// <summary>Writes closer than this are coalesced: below it, copying the bytes between costs less than another system call.</summary>
    internal const int Gap = 2048;

    private readonly BatchBuffer _buffer;
    private readonly List<PendingWrite> _writes = [];

    /// <summary>The runs of the last flush, kept for the next one: [First, First + Count) of the sorted order, over [Start, End) of one chunk.</summary>
    private readonly List<(int First, int Count, nint Start, nint End)> _runs = [];

    /// <summary>The sorted order of the writes, kept for the next flush.</summary>
    private int[] _order = [];

    internal PendingWrites(ChunkFlags poolFlags) => _buffer = new BatchBuffer(poolFlags);

    internal int Count => _writes.Count;

    /// <summary>Where the held bytes are (for tests).</summary>
    internal nint BufferAddress => (nint)_buffer.At(0);

    /// <summary>How many writes through the write path the last flush made: one per run (for tests).</summary>
    internal int LastFlushCalls { get; private set; }

    /// <summary>Holds a copy of <paramref name="source"/> for <paramref name="target"/> until the flush.</summary>
    internal OsResult TryAdd(Chunk chunk, nint target, ReadOnlySpan<byte> source)
    {
        OsResult reserved = _buffer.TryReserve((nuint)source.Length, out nuint data);
        if (reserved.Failed)
        {
            return reserved;
        }

        source.CopyTo(new Span<byte>(_buffer.At(data), source.Length));
        _writes.Add(new PendingWrite(chunk, target, (nuint)source.Length, data, false, 0));
        return OsResult.Ok;
    }

    /// <summary>Holds a fill of <paramref name="length"/> bytes at <paramref name="target"/> until the flush.</summary>
    internal void AddFill(Chunk chunk, nint target, byte value, nuint length) =>
        _writes.Add(new PendingWrite(chunk, target, length, 0, true, value));

    /// <summary>Drops every pending write (a pool destroyed with the batch open) and wipes the buffer.</summary>
    internal void Clear()
    {
        _writes.Clear();
        _buffer.Reset();
    }

    public void Dispose()
    {
        _writes.Clear();
        _buffer.Dispose();
    }

    /// <summary>
    /// Writes everything pending through <paramref name="path"/> and empties the batch, also on failure (then
    /// <paramref name="failedAt"/> is the start of the run that failed; runs before it were written).
    /// </summary>
    internal OsResult Flush(WritePath path, out nint failedAt)
    {
        failedAt = 0;
        LastFlushCalls = 0;
        try
        {
            return _writes.Count switch
            {
                0 => OsResult.Ok,
                1 => WriteOne(path, _writes[0], out failedAt),
                _ => FlushRuns(path, out failedAt),
            };
        }
        finally
        {
            Clear();
        }
    }

    private OsResult WriteOne(WritePath path, in PendingWrite w, out nint failedAt)
    {
        failedAt = w.Target;
        LastFlushCalls++;
        if (w.Target < w.Chunk.Start || w.End > w.Chunk.End)
        {
            return OsResult.Fail(Interop.Errno.EINVAL, "pwrite", $"write a batch's {w.Length} bytes outside their chunk");
        }

        OsResult result = w.IsFill
            ? path.Fill(w.Chunk, w.Target, w.FillValue, w.Length, readOnly: true)
            : path.Write(w.Chunk, w.Target, new ReadOnlySpan<byte>(_buffer.At(w.Data), checked((int)w.Length)), readOnly: true);
        if (!result.Failed)
        {
            failedAt = 0;
        }

        return result;
    }

    private OsResult FlushRuns(WritePath path, out nint failedAt)
    {
        failedAt = 0;
        Span<PendingWrite> writes = CollectionsMarshal.AsSpan(_writes);

        // In address order (ties in call order); most batches are already.
        if (_order.Length < writes.Length)
        {
            _order = new int[Math.Max(writes.Length, _order.Length * 2)];
        }

        int[] order = _order;
        bool sorted = true;
        for (int i = 0; i < writes.Length; i++)
        {
            order[i] = i;
            sorted &= i == 0 || writes[i - 1].Target <= writes[i].Target;
        }

        if (!sorted)
        {
            PendingWrite[] snapshot = writes.ToArray();
            Array.Sort(order, 0, writes.Length, Comparer<int>.Create((x, y) => snapshot[x].Target != snapshot[y].Target ? snapshot[x].Target.CompareTo(snapshot[y].Target) : x.CompareTo(y)));
        }

        // Runs over the sorted order: [first, first + count) of order, covering [Start, End) of one chunk.
        List<(int First, int Count, nint Start, nint End)> runs = _runs;
        runs.Clear();
        nuint staging = 0;
        for (int k = 0; k < writes.Length;)
        {
            ref readonly PendingWrite w = ref writes[order[k]];
            (int first, nint start, nint end) = (k, w.Target, w.End);
            for (k++; k < writes.Length; k++)
            {
                ref readonly PendingWrite next = ref writes[order[k]];
                if (!ReferenceEquals(next.Chunk, w.Chunk) || next.Target > end + Gap)
                {
                    break;
                }

                end = Math.Max(end, next.End);
            }

            runs.Add((first, k - first, start, end));
            if (k - first > 1)
            {
                staging += (nuint)(end - start);
            }
        }

        OsResult reserved = _buffer.TryReserve(staging, out nuint stagingAt);
        if (reserved.Failed)
        {
            return reserved;
        }

        foreach ((int first, int count, nint start, nint end) in runs)
        {
            ref readonly PendingWrite head = ref writes[order[first]];
            if (count == 1)
            {
                OsResult one = WriteOne(path, head, out failedAt);
                if (one.Failed)
                {
                    return one;
                }

                continue;
            }

            // Every write was checked at its call; the run must still lie inside its chunk (a held entry is ordinary memory).
            if (start < head.Chunk.Start || end > head.Chunk.End)
            {
                failedAt = start;
                return OsResult.Fail(Interop.Errno.EINVAL, "pwrite", $"write a batch's run of {end - start} bytes outside its chunk");
            }

            // Today's bytes, then every write of the run over them, in call order.
            byte* run = _buffer.At(stagingAt);
            nuint length = (nuint)(end - start);
            stagingAt += length;
            Buffer.MemoryCopy((void*)start, run, length, length);
            Span<int> members = order.AsSpan(first, count);
            if (!sorted)
            {
                members.Sort();
            }

            foreach (int index in members)
            {
                ref readonly PendingWrite w = ref writes[index];
                byte* at = run + (w.Target - start);
                if (w.IsFill)
                {
                    NativeMemory.Fill(at, w.Length, w.FillValue);
                }
                else
                {
                    Buffer.MemoryCopy(_buffer.At(w.Data), at, w.Length, w.Length);
                }
            }

            LastFlushCalls++;
            OsResult result = path.Write(head.Chunk, start, new ReadOnlySpan<byte>(run, checked((int)length)), readOnly: true);
            if (result.Failed)
            {
                failedAt = start;
                return result;
            }
        }

        return OsResult.Ok;
    }
}
