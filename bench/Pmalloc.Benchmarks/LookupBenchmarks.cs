using System.Collections.Frozen;
using BenchmarkDotNet.Attributes;
using Pmalloc.Bench;

namespace Pmalloc.Benchmarks;

/// <summary>Int-key lookups (100,000 entries; half hits, half misses): ProtectedDictionary, and one open-addressing table in a protected pool and in a managed array, against FrozenDictionary and Dictionary.</summary>
public class LookupBenchmarks
{
    private const int Entries = 100_000;
    private int[] _queries = [];
    private WriteOncePool? _pool;
    private IntTable _inPool;
    private IntTable _inArray;
    private Dictionary<int, long> _dictionary = [];
    private FrozenDictionary<int, long> _frozen = FrozenDictionary<int, long>.Empty;
    private ProtectedDictionary<int, long>? _protected;

    [GlobalSetup]
    public void Setup()
    {
        (int[] keys, long[] values, int[] queries) = BenchRunner.IntData(Entries);
        _queries = queries;
        _pool = new WriteOncePool(new PoolOptions { Name = "bdn-table" });
        _inPool = IntTable.InPool(_pool, keys, values);
        _pool.Protect();
        _inArray = IntTable.InArray(keys, values);
        _dictionary = keys.Zip(values).ToDictionary(kv => kv.First, kv => kv.Second);
        _frozen = _dictionary.ToFrozenDictionary();
        _protected = _dictionary.ToProtectedDictionary();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool?.Dispose();
        _protected?.Dispose();
    }

    [Benchmark(OperationsPerInvoke = 1 << 16)]
    public long ProtectedDictionary()
    {
        long sum = 0;
        foreach (int q in _queries)
        {
            sum += _protected!.TryGetValue(q, out long v) ? v : 0;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = 1 << 16, Description = "table in protected pool")]
    public long ProtectedPool()
    {
        long sum = 0;
        foreach (int q in _queries)
        {
            sum += _inPool.TryGetValue(q, out long v) ? v : 0;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = 1 << 16, Description = "table in managed array")]
    public long ManagedArray()
    {
        long sum = 0;
        foreach (int q in _queries)
        {
            sum += _inArray.TryGetValue(q, out long v) ? v : 0;
        }

        return sum;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = 1 << 16)]
    public long FrozenDictionary()
    {
        long sum = 0;
        foreach (int q in _queries)
        {
            sum += _frozen.TryGetValue(q, out long v) ? v : 0;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = 1 << 16)]
    public long Dictionary()
    {
        long sum = 0;
        foreach (int q in _queries)
        {
            sum += _dictionary.TryGetValue(q, out long v) ? v : 0;
        }

        return sum;
    }
}
