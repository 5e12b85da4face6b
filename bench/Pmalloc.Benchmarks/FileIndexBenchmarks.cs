using System.Collections.Frozen;
using BenchmarkDotNet.Attributes;
using Pmalloc.Bench;

namespace Pmalloc.Benchmarks;

/// <summary>
/// The real workload: every file under /usr (path, size, mtime) in an index. Builds, and lookups (half
/// hits, half misses) in the pooled index against Dictionary and FrozenDictionary. Memory is in
/// <c>pmalloc bench</c> (resident pages and GC heap); MemoryDiagnoser here shows what each build allocates on the GC heap.
/// </summary>
[GroupBenchmarksBy(BenchmarkDotNet.Configs.BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class FileIndexBenchmarks
{
    private const int Queries = 1 << 15;
    private FileRecords? _records;
    private string[] _queries = [];
    private PoolFileIndex? _pooled;
    private Dictionary<string, FileMeta> _dictionary = [];
    private FrozenDictionary<string, FileMeta> _frozen = FrozenDictionary<string, FileMeta>.Empty;
    private ProtectedDictionary<ProtectedString, FileMeta>? _protected;

    [GlobalSetup]
    public void Setup()
    {
        _records = FileRecords.Load("/usr", int.MaxValue);
        _queries = BenchRunner.FileQueries(_records);
        _pooled = PoolFileIndex.Build(_records, "bdn-files");
        _dictionary = BenchRunner.BuildDictionary(_records);
        _frozen = BenchRunner.BuildDictionary(_records).ToFrozenDictionary();
        _protected = BenchRunner.Pairs(_records).ToProtectedDictionary();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pooled?.Dispose();
        _protected?.Dispose();
    }

    [Benchmark(Description = "build: ProtectedDictionary")]
    [BenchmarkCategory("build")]
    public int BuildProtectedDictionary()
    {
        using ProtectedDictionary<ProtectedString, FileMeta> index = BenchRunner.Pairs(_records!).ToProtectedDictionary();
        return index.Count;
    }

    [Benchmark(OperationsPerInvoke = Queries, Description = "lookup: ProtectedDictionary")]
    [BenchmarkCategory("lookup")]
    public long LookupProtectedDictionary()
    {
        long sum = 0;
        foreach (string q in _queries)
        {
            sum += _protected!.TryGetValue(q, out FileMeta m) ? m.Size : 0;
        }

        return sum;
    }

    [Benchmark(Description = "build: protected pool")]
    [BenchmarkCategory("build")]
    public int BuildPool()
    {
        using PoolFileIndex index = PoolFileIndex.Build(_records!, "bdn-files-build");
        return index.Count;
    }

    [Benchmark(Baseline = true, Description = "build: Dictionary")]
    [BenchmarkCategory("build")]
    public int BuildDictionary() => BenchRunner.BuildDictionary(_records!).Count;

    [Benchmark(Description = "build: FrozenDictionary")]
    [BenchmarkCategory("build")]
    public int BuildFrozen() => BenchRunner.BuildDictionary(_records!).ToFrozenDictionary().Count;

    [Benchmark(OperationsPerInvoke = Queries, Description = "lookup: protected pool")]
    [BenchmarkCategory("lookup")]
    public long LookupPool()
    {
        long sum = 0;
        foreach (string q in _queries)
        {
            sum += _pooled!.TryGetValue(q, out FileMeta m) ? m.Size : 0;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Queries, Description = "lookup: Dictionary")]
    [BenchmarkCategory("lookup")]
    public long LookupDictionary()
    {
        long sum = 0;
        foreach (string q in _queries)
        {
            sum += _dictionary.TryGetValue(q, out FileMeta m) ? m.Size : 0;
        }

        return sum;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Queries, Description = "lookup: FrozenDictionary")]
    [BenchmarkCategory("lookup")]
    public long LookupFrozen()
    {
        long sum = 0;
        foreach (string q in _queries)
        {
            sum += _frozen.TryGetValue(q, out FileMeta m) ? m.Size : 0;
        }

        return sum;
    }
}
