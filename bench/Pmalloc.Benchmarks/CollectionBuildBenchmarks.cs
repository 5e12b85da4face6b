using System.Collections.Frozen;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Pmalloc.Bench;

namespace Pmalloc.Benchmarks;

/// <summary>
/// <c>ToProtectedDictionary()</c> (a pool of its own, protected before it returns) against <c>ToFrozenDictionary()</c>
/// (the baseline of each key type), from a Dictionary of 1,000, 100,000 and 1,000,000 random int keys and of identifiers,
/// as <c>pmalloc bench --collections</c> measures them (<see cref="CollectionBench.MeasureBuilds"/>, the same keys). As
/// there, the protected dictionaries are disposed outside the measurement (in the iteration cleanup), as the frozen ones
/// are collected by the GC; so each iteration is one build (BenchmarkDotNet's rule for a benchmark with an iteration cleanup).
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class CollectionBuildBenchmarks
{
    private readonly List<IDisposable> _built = [];
    private Dictionary<int, int> _ints = [];
    private Dictionary<string, int> _strings = [];

    [Params(1_000, 100_000, 1_000_000)]
    public int Entries { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Random random = new(13);
        _ints = new Dictionary<int, int>(Entries);
        while (_ints.Count < Entries)
        {
            _ints[random.Next()] = _ints.Count;
        }

        string[] names = CollectionKeys.Distinct(CollectionKeys.Identifiers, Entries, seed: 14);
        _strings = new Dictionary<string, int>(Entries);
        for (int i = 0; i < names.Length; i++)
        {
            _strings.Add(names[i], i);
        }
    }

    [IterationCleanup]
    public void DisposeBuilt()
    {
        foreach (IDisposable table in _built)
        {
            table.Dispose();
        }

        _built.Clear();
    }

    [Benchmark(Baseline = true, Description = "int: ToFrozenDictionary")]
    [BenchmarkCategory("int")]
    public int FrozenInt() => _ints.ToFrozenDictionary().Count;

    [Benchmark(Description = "int: ToProtectedDictionary")]
    [BenchmarkCategory("int")]
    public int ProtectedInt() => Keep(_ints.ToProtectedDictionary()).Count;

    [Benchmark(Baseline = true, Description = "string: ToFrozenDictionary")]
    [BenchmarkCategory("string")]
    public int FrozenString() => _strings.ToFrozenDictionary().Count;

    [Benchmark(Description = "string: ToProtectedDictionary")]
    [BenchmarkCategory("string")]
    public int ProtectedString() => Keep(_strings.ToProtectedDictionary()).Count;

    private T Keep<T>(T table)
        where T : IDisposable
    {
        _built.Add(table);
        return table;
    }
}
