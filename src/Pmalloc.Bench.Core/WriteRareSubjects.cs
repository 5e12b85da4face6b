using Pmalloc.Bench.Native;

namespace Pmalloc.Bench;

/// <summary>
/// The write-rare operations and their baselines, ready to time (the CLI and BenchmarkDotNet both call these):
/// 100 longs in one allocation of a protected <see cref="WriteRarePool"/>; the same in one page of a memfd
/// mapping flipped writable and back with two <c>mprotect</c> calls (the unsafe baseline: a window in which
/// any thread can write); and in a <c>sodium_malloc</c> block flipped with <c>sodium_mprotect_readwrite/readonly</c>.
/// </summary>
public sealed unsafe class WriteRareSubjects : IDisposable
{
    /// <summary>Updates in a batch.</summary>
    public const int BatchSize = 100;

    private readonly WriteRarePool _pool;
    private readonly long* _inPool;
    private readonly nint* _slot;
    private readonly MemfdMapping _flip;
    private readonly long* _inFlip;
    private readonly long* _inSodium;

    public WriteRareSubjects()
    {
        _pool = new WriteRarePool(new PoolOptions { Name = "bench-writerare" });
        _inPool = (long*)_pool.Allocate(BatchSize * sizeof(long));
        _slot = (nint*)_pool.Allocate((nuint)sizeof(nint));
        _pool.Protect();

        _flip = new MemfdMapping("bench-flipflop", (nuint)Environment.SystemPageSize);
        _inFlip = (long*)_flip.Start;
        _flip.Protect(Libc.Prot.Read);

        if (Sodium.Probe() is null)
        {
            _inSodium = (long*)Sodium.sodium_malloc(BatchSize * sizeof(long));
            Check(Sodium.sodium_mprotect_readonly((nint)_inSodium), "sodium_mprotect_readonly");
        }
    }

    /// <summary>Null when libsodium is usable, else why its column is skipped.</summary>
    public static string? SodiumMissing => Sodium.Probe();

    /// <summary>One update through the pool (<c>pwrite</c> to the memfd; the public mapping never writable).</summary>
    public void PoolWrite(long value) => _pool.Write(in _inPool[0], value);

    /// <summary>One atomic pointer store through the pool (a private one-page alias, mapped and unmapped).</summary>
    public void PoolPublish(nint value) => _pool.Publish(in *_slot, value);

    /// <summary>One update the unsafe way: the page writable for everyone, a store, read-only again.</summary>
    public void FlipFlopWrite(long value)
    {
        _flip.Protect(Libc.Prot.Read | Libc.Prot.Write);
        _inFlip[0] = value;
        _flip.Protect(Libc.Prot.Read);
    }

    /// <summary>One update in a libsodium guarded block.</summary>
    public void SodiumWrite(long value)
    {
        Check(Sodium.sodium_mprotect_readwrite((nint)_inSodium), "sodium_mprotect_readwrite");
        _inSodium[0] = value;
        Check(Sodium.sodium_mprotect_readonly((nint)_inSodium), "sodium_mprotect_readonly");
    }

    /// <summary><see cref="BatchSize"/> updates in one batch (one alias for the chunk, mapped once).</summary>
    public void PoolBatch(long value)
    {
        using WriteRareBatch batch = _pool.BeginWrites();
        for (int i = 0; i < BatchSize; i++)
        {
            batch.Write(in _inPool[i], value + i);
        }
    }

    /// <summary><see cref="BatchSize"/> updates, each its own <see cref="PoolWrite"/>.</summary>
    public void PoolWrites(long value)
    {
        for (int i = 0; i < BatchSize; i++)
        {
            _pool.Write(in _inPool[i], value + i);
        }
    }

    /// <summary><see cref="BatchSize"/> stores under one <c>mprotect</c> pair.</summary>
    public void FlipFlopBatch(long value)
    {
        _flip.Protect(Libc.Prot.Read | Libc.Prot.Write);
        for (int i = 0; i < BatchSize; i++)
        {
            _inFlip[i] = value + i;
        }

        _flip.Protect(Libc.Prot.Read);
    }

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
    public bool Holds(long value) => _inPool[0] == value && _inFlip[0] == value && (_inSodium == null || _inSodium[0] == value);

    public void Dispose()
    {
        _pool.Dispose();
        _flip.Dispose();
        if (_inSodium != null)
        {
            Sodium.sodium_free((nint)_inSodium);
        }
    }

    private static void Check(int result, string call)
    {
        if (result != 0)
        {
            throw new InvalidOperationException($"write-rare benchmark: {call} failed");
        }
    }
}
