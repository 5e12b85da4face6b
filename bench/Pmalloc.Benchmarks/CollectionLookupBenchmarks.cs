using System.Collections.Frozen;
using BenchmarkDotNet.Attributes;
using Pmalloc.Bench;

namespace Pmalloc.Benchmarks;

/// <summary>
/// String lookups (int values) at 1,000, 50,000 and 1,000,000 entries, as <c>pmalloc bench --collections</c> measures them
/// (<see cref="CollectionBench.MeasureStringLookups"/>): the same keys (<see cref="CollectionKeys"/>, two shapes), and the
/// same queries: copies of the keys (new string objects, so no lookup succeeds by comparing references) and misses of the
/// same shape, alternately, in random order. ProtectedDictionary and its IReadOnlyDictionary view against FrozenDictionary
/// (the baseline) and Dictionary.
/// </summary>
public class CollectionLookupBenchmarks
{
    private const int Queries = 1 << 16;
    private string[] _queries = [];
    private Dictionary<string, int> _dictionary = [];
    private FrozenDictionary<string, int> _frozen = FrozenDictionary<string, int>.Empty;
    private ProtectedDictionary<ProtectedString, int>? _protected;
    private IReadOnlyDictionary<string, int>? _view;

    [Params(CollectionKeys.Identifiers, CollectionKeys.Paths)]
    public string Shape { get; set; } = CollectionKeys.Identifiers;

    [Params(1_000, 50_000, 1_000_000)]
    public int Entries { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        string[] all = CollectionKeys.Distinct(Shape, 2 * Entries, seed: 11);
        string[] keys = all[..Entries], misses = all[Entries..];
        _dictionary = new Dictionary<string, int>(Entries);
        for (int i = 0; i < keys.Length; i++)
        {
            _dictionary.Add(keys[i], i);
        }

        _frozen = _dictionary.ToFrozenDictionary();
        _protected = _dictionary.ToProtectedDictionary(new PoolOptions { Name = "bdn-strings" });
        _view = _protected.AsReadOnlyDictionary();
        _queries = CollectionKeys.Queries(keys, misses, Queries, seed: 12);
    }

    [GlobalCleanup]
    public void Cleanup() => _protected?.Dispose();

    [Benchmark(OperationsPerInvoke = Queries)]
    public long ProtectedDictionary()
    {
        ProtectedDictionary<ProtectedString, int> table = _protected!;
        long sum = 0;
        foreach (string q in _queries)
        {
            sum += table.TryGetValue(q, out int v) ? v : -1;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Queries, Description = "ProtectedDictionary as IReadOnlyDictionary")]
    public long View()
    {
        IReadOnlyDictionary<string, int> table = _view!;
        long sum = 0;
        foreach (string q in _queries)
        {
            sum += table.TryGetValue(q, out int v) ? v : -1;
        }

        return sum;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Queries)]
    public long FrozenDictionary()
    {
        FrozenDictionary<string, int> table = _frozen;
        long sum = 0;
        foreach (string q in _queries)
        {
            sum += table.TryGetValue(q, out int v) ? v : -1;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Queries)]
    public long Dictionary()
    {
        Dictionary<string, int> table = _dictionary;
        long sum = 0;
        foreach (string q in _queries)
        {
            sum += table.TryGetValue(q, out int v) ? v : -1;
        }

        return sum;
    }
}
