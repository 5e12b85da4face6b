using Pmalloc.Bench.Native;

namespace Pmalloc.Bench;

/// <summary>
/// The write-rare operations and their baselines, ready to time (the CLI and BenchmarkDotNet both call these). The pool
/// side: a protected <see cref="WriteRarePool"/> with one 64 KiB chunk holding 100 separate 8-byte allocations (adjacent:
/// 16-byte granules) plus a slot and a counter, and a second pool whose 64 KiB chunk holds 100 allocations of 640 bytes
/// (spread over the whole chunk). The unsafe baseline, the mprotect flip-flop: the same stores into a memfd mapping (the
/// kind of memory a chunk is) made writable for everyone and read-only again with two <c>mprotect</c> calls, one page for
/// a single store, the whole 64 KiB chunk for 100. And libsodium's <c>sodium_mprotect_readwrite/readonly</c> pair.
/// </summary>
public sealed unsafe class WriteRareSubjects : IDisposable
{
    /// <summary>Updates in a batch.</summary>
    public const int BatchSize = 100;

    /// <summary>The chunk the batch writes to, and the flip-flop of "that chunk".</summary>
    public const int ChunkBytes = 64 * 1024;

    /// <summary>The stride of the spread allocations: 100 of them fill one 64 KiB chunk.</summary>
    public const int SpreadStride = 640;

    private readonly WriteRarePool _pool;
    private readonly WriteRarePool _spreadPool;
    private readonly long*[] _inPool = new long*[BatchSize];
    private readonly long*[] _spread = new long*[BatchSize];
    private readonly nint* _slot;
    private readonly long* _counter;
    private readonly MemfdMapping _flipPage;
    private readonly MemfdMapping _flipChunk;
    private readonly long* _inSodium;

    public WriteRareSubjects()
    {
        _pool = new WriteRarePool(new PoolOptions { Name = "bench-writerare", ChunkSize = ChunkBytes });
        for (int i = 0; i < BatchSize; i++)
        {
            _inPool[i] = (long*)_pool.Allocate(sizeof(long));
        }

        _slot = (nint*)_pool.Allocate((nuint)sizeof(nint));
        _counter = (long*)_pool.Allocate(sizeof(long));
        _pool.Protect();

        _spreadPool = new WriteRarePool(new PoolOptions { Name = "bench-writerare-spread", ChunkSize = ChunkBytes });
        for (int i = 0; i < BatchSize; i++)
        {
            _spread[i] = (long*)_spreadPool.Allocate(SpreadStride);
        }

        _spreadPool.Protect();
        if (_pool.Statistics.Chunks != 1 || _spreadPool.Statistics.Chunks != 1)
        {
            throw new InvalidOperationException("write-rare benchmark: each pool must be one 64 KiB chunk");
        }

        _flipPage = new MemfdMapping("bench-flipflop", (nuint)Environment.SystemPageSize);
        _flipPage.Protect(Libc.Prot.Read);
        _flipChunk = new MemfdMapping("bench-flipflop-chunk", ChunkBytes);
        new Span<byte>((void*)_flipChunk.Start, ChunkBytes).Clear(); // resident, like the pool's chunk
        _flipChunk.Protect(Libc.Prot.Read);

        if (Sodium.Probe() is null)
        {
            _inSodium = (long*)Sodium.sodium_malloc(BatchSize * sizeof(long));
            Check(Sodium.sodium_mprotect_readonly((nint)_inSodium), "sodium_mprotect_readonly");
        }

        // Start the writer process now, not in the first timed call.
        PoolPublish(0);
    }

    /// <summary>Null when libsodium is usable, else why its column is skipped.</summary>
    public static string? SodiumMissing => Sodium.Probe();

    /// <summary>One 8-byte update through the pool: one <c>pwrite</c> to the memfd; no mapping ever writable.</summary>
    public void PoolWrite(long value) => _pool.Write(in *_inPool[0], value);

    /// <summary>One atomic pointer store through the pool: a round trip to the writer process, which does the store.</summary>
    public void PoolPublish(nint value) => _pool.Publish(in *_slot, value);

    /// <summary>One atomic add through the pool (the writer process).</summary>
    public void PoolAdd(long delta) => _pool.Add(in *_counter, delta);

    /// <summary>One atomic compare-exchange through the pool (the writer process); it always succeeds here.</summary>
    public void PoolCompareExchange(long value) => _pool.CompareExchange(in *_counter, value, *_counter);

    /// <summary>One update the unsafe way: the page writable for everyone, a store, read-only again.</summary>
    public void FlipFlopWrite(long value)
    {
        _flipPage.Protect(Libc.Prot.Read | Libc.Prot.Write);
        *(long*)_flipPage.Start = value;
        _flipPage.Protect(Libc.Prot.Read);
    }

    /// <summary>One update in a libsodium guarded block.</summary>
    public void SodiumWrite(long value)
    {
        Check(Sodium.sodium_mprotect_readwrite((nint)_inSodium), "sodium_mprotect_readwrite");
        _inSodium[0] = value;
        Check(Sodium.sodium_mprotect_readonly((nint)_inSodium), "sodium_mprotect_readonly");
    }

    /// <summary><see cref="BatchSize"/> 8-byte updates to as many adjacent allocations, in one batch: held, then one <c>pwrite</c>.</summary>
    public void PoolBatch(long value)
    {
        using WriteRareBatch batch = _pool.BeginWrites();
        for (int i = 0; i < BatchSize; i++)
        {
            batch.Write(in *_inPool[i], value + i);
        }
    }

    /// <summary><see cref="BatchSize"/> 8-byte updates to allocations spread over the whole chunk, in one batch.</summary>
    public void PoolBatchSpread(long value)
    {
        using WriteRareBatch batch = _spreadPool.BeginWrites();
        for (int i = 0; i < BatchSize; i++)
        {
            batch.Write(in *_spread[i], value + i);
        }
    }

    /// <summary><see cref="BatchSize"/> updates, each its own <see cref="PoolWrite"/>.</summary>
    public void PoolWrites(long value)
    {
        for (int i = 0; i < BatchSize; i++)
        {
            _pool.Write(in *_inPool[i], value + i);
        }
    }

    /// <summary><see cref="BatchSize"/> stores 16 bytes apart under one <c>mprotect</c> pair of the whole 64 KiB chunk.</summary>
    public void FlipFlopBatch(long value) => FlipFlopChunk(value, 16);

    /// <summary><see cref="BatchSize"/> stores 640 bytes apart under one <c>mprotect</c> pair of the whole 64 KiB chunk.</summary>
    public void FlipFlopBatchSpread(long value) => FlipFlopChunk(value, SpreadStride);

    /// <summary><see cref="BatchSize"/> stores under one libsodium read-write/read-only pair.</summary>
    public void SodiumBatch(long value)
    {
        Check(Sodium.sodium_mprotect_readwrite((nint)_inSodium), "sodium_mprotect_readwrite");
        for (int i = 0; i < BatchSize; i++)
        {
            _inSodium[i] = value + i;
        }

        Check(Sodium.sodium_mprotect_readonly((nint)_inSodium), "sodium_mprotect_readonly");
    }

    /// <summary>The values really landed (read through the public, read-only addresses).</summary>
    public bool Holds(long value) =>
        *_inPool[0] == value && *_spread[0] == value && *(long*)_flipPage.Start == value && *(long*)_flipChunk.Start == value
        && (_inSodium == null || _inSodium[0] == value);

    public void Dispose()
    {
        _pool.Dispose();
        _spreadPool.Dispose();
        _flipPage.Dispose();
        _flipChunk.Dispose();
        if (_inSodium != null)
        {
            Sodium.sodium_free((nint)_inSodium);
        }
    }

    private void FlipFlopChunk(long value, int stride)
    {
        _flipChunk.Protect(Libc.Prot.Read | Libc.Prot.Write);
        for (int i = 0; i < BatchSize; i++)
        {
            *(long*)(_flipChunk.Start + (i * stride)) = value + i;
        }

        _flipChunk.Protect(Libc.Prot.Read);
    }

    private static void Check(int result, string call)
    {
        if (result != 0)
        {
            throw new InvalidOperationException($"write-rare benchmark: {call} failed");
        }
    }
}
