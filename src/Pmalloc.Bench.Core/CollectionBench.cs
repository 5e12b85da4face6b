using System.Collections.Frozen;
using Pmalloc.Bench.Native;

namespace Pmalloc.Bench;

/// <summary>
/// The protected collections against the tables they replace, side by side in one process: string lookups
/// (<see cref="MeasureStringLookups"/>), building (<see cref="MeasureBuilds"/>) and lookups of keys crafted to collide
/// (<see cref="MeasureHashFlood"/>). The BenchmarkDotNet project measures the same operations on the same keys.
/// </summary>
/// <remarks>
/// Time is this thread's CPU time (<see cref="Libc.ThreadCpuNs"/>: waiting for a core that other processes share is not
/// in it), in interleaved rounds (every subject once per round, so a noisy moment hits them all), the median round.
/// Each lookup loop is compiled for its table (a struct per subject, no delegate).
/// </remarks>
public static class CollectionBench
{
    /// <summary>Table names in the results.</summary>
    public const string Protected = "ProtectedDictionary", View = "ProtectedDictionary as IReadOnlyDictionary", Frozen = "FrozenDictionary", Plain = "Dictionary";

    /// <summary>Entry counts of the string lookups.</summary>
    public static int[] LookupSizes(bool quick) => quick ? [1_000, 50_000] : [1_000, 50_000, 1_000_000];

    /// <summary>Entry counts of the builds.</summary>
    public static int[] BuildSizes(bool quick) => quick ? [1_000, 100_000] : [1_000, 100_000, 1_000_000];

    /// <summary>Keys of the hash-flooding measurement.</summary>
    public const int FloodKeys = 50_000;

    private const int QueryCount = 1 << 16;

    /// <summary>Everything, for <c>pmalloc bench</c>.</summary>
    public static CollectionResults Measure(bool quick, Action<string> log)
    {
        int rounds = quick ? 3 : 5;
        CollectionResults results = new();
        foreach (string shape in CollectionKeys.Shapes)
        {
            foreach (int entries in LookupSizes(quick))
            {
                log($"protected collections: string lookups, {entries:#,0} {shape}");
                results.StringLookups.AddRange(MeasureStringLookups(shape, entries, rounds, quick ? 1 << 18 : 1 << 20));
            }
        }

        foreach (int entries in BuildSizes(quick))
        {
            log($"protected collections: building from {entries:#,0} int and string keys");
            results.Builds.AddRange(MeasureBuilds(entries, rounds));
        }

        log($"protected collections: {FloodKeys:#,0} keys crafted to collide, against random keys of the same shape");
        results.Flood = MeasureHashFlood(FloodKeys, rounds, quick ? 1 << 17 : 1 << 19);
        return results;
    }

    /// <summary>
    /// Lookups of <paramref name="entries"/> string keys of <paramref name="shape"/> (int values): half copies of keys, half
    /// misses of the same shape; in the ProtectedDictionary, its <see cref="IReadOnlyDictionary{TKey, TValue}"/> view, a
    /// FrozenDictionary and a Dictionary. ns per lookup.
    /// </summary>
    public static List<StringLookupResult> MeasureStringLookups(string shape, int entries, int rounds, int lookupsPerRound)
    {
        string[] all = CollectionKeys.Distinct(shape, 2 * entries, seed: 11);
        string[] keys = all[..entries], misses = all[entries..];
        Dictionary<string, int> dictionary = new(entries);
        for (int i = 0; i < keys.Length; i++)
        {
            dictionary.Add(keys[i], i);
        }

        FrozenDictionary<string, int> frozen = dictionary.ToFrozenDictionary();
        using ProtectedDictionary<ProtectedString, int> table = dictionary.ToProtectedDictionary(new PoolOptions { Name = "bench-strings" });
        IReadOnlyDictionary<string, int> view = table.AsReadOnlyDictionary();
        string[] queries = CollectionKeys.Queries(keys, misses, QueryCount, seed: 12);
        int passes = Math.Max(1, lookupsPerRound / queries.Length);
        double[] ns = Interleave(rounds,
            () => TimeLookups(new ProtectedLookup(table), queries, passes),
            () => TimeLookups(new ViewLookup(view), queries, passes),
            () => TimeLookups(new FrozenLookup(frozen), queries, passes),
            () => TimeLookups(new DictionaryLookup(dictionary), queries, passes));
        return
        [
            new(shape, entries, Protected, ns[0]),
            new(shape, entries, View, ns[1]),
            new(shape, entries, Frozen, ns[2]),
            new(shape, entries, Plain, ns[3]),
        ];
    }

    /// <summary>
    /// <c>ToProtectedDictionary()</c> (a pool of its own, protected before it returns) against <c>ToFrozenDictionary()</c>,
    /// from a <see cref="Dictionary{TKey, TValue}"/> of <paramref name="entries"/> random int keys, and of identifiers.
    /// The protected dictionaries are disposed outside the timing, as the frozen ones are collected outside it.
    /// </summary>
    public static List<BuildResult> MeasureBuilds(int entries, int rounds)
    {
        Random random = new(13);
        Dictionary<int, int> ints = new(entries);
        while (ints.Count < entries)
        {
            ints[random.Next()] = ints.Count;
        }

        string[] names = CollectionKeys.Distinct(CollectionKeys.Identifiers, entries, seed: 14);
        Dictionary<string, int> strings = new(entries);
        for (int i = 0; i < names.Length; i++)
        {
            strings.Add(names[i], i);
        }

        int repeats = Math.Max(1, 100_000 / entries);
        double[] us = Interleave(rounds,
            () => TimeBuilds(repeats, () => ints.ToFrozenDictionary(), null),
            () => TimeBuilds(repeats, () => ints.ToProtectedDictionary(), d => d.Dispose()),
            () => TimeBuilds(repeats, () => strings.ToFrozenDictionary(), null),
            () => TimeBuilds(repeats, () => strings.ToProtectedDictionary(), d => d.Dispose()));
        return
        [
            new("int", entries, "ToFrozenDictionary", us[0]),
            new("int", entries, "ToProtectedDictionary", us[1]),
            new("string", entries, "ToFrozenDictionary", us[2]),
            new("string", entries, "ToProtectedDictionary", us[3]),
        ];
    }

    /// <summary>
    /// Lookups (half hits, half misses) in a ProtectedDictionary of <paramref name="count"/> keys crafted to collide in its
    /// string hash (<see cref="CollectionKeys.Crafted"/>; the misses are crafted too), against one of random keys of the
    /// same shape; FrozenDictionary and Dictionary of the same keys beside them.
    /// </summary>
    public static HashFloodResult MeasureHashFlood(int count, int rounds, int lookupsPerRound)
    {
        string[] crafted = CollectionKeys.Crafted(1 << 16);
        string[] craftedKeys = crafted[..count], craftedMisses = crafted[count..];
        string[] random = CollectionKeys.LikeCrafted(2 * count, seed: 15);
        string[] randomKeys = random[..count], randomMisses = random[count..];
        Dictionary<string, int> craftedSource = craftedKeys.Select((k, i) => KeyValuePair.Create(k, i)).ToDictionary();
        Dictionary<string, int> randomSource = randomKeys.Select((k, i) => KeyValuePair.Create(k, i)).ToDictionary();

        double buildCrafted = TimeBuilds(1, () => craftedSource.ToProtectedDictionary(), d => d.Dispose());
        double buildRandom = TimeBuilds(1, () => randomSource.ToProtectedDictionary(), d => d.Dispose());
        using ProtectedDictionary<ProtectedString, int> craftedTable = craftedSource.ToProtectedDictionary(new PoolOptions { Name = "bench-crafted" });
        using ProtectedDictionary<ProtectedString, int> randomTable = randomSource.ToProtectedDictionary(new PoolOptions { Name = "bench-random" });
        FrozenDictionary<string, int> craftedFrozen = craftedSource.ToFrozenDictionary();
        FrozenDictionary<string, int> randomFrozen = randomSource.ToFrozenDictionary();
        string[] craftedQueries = CollectionKeys.Queries(craftedKeys, craftedMisses, QueryCount, seed: 16);
        string[] randomQueries = CollectionKeys.Queries(randomKeys, randomMisses, QueryCount, seed: 17);
        int passes = Math.Max(1, lookupsPerRound / QueryCount);
        double[] ns = Interleave(rounds,
            () => TimeLookups(new ProtectedLookup(craftedTable), craftedQueries, passes),
            () => TimeLookups(new ProtectedLookup(randomTable), randomQueries, passes),
            () => TimeLookups(new FrozenLookup(craftedFrozen), craftedQueries, passes),
            () => TimeLookups(new FrozenLookup(randomFrozen), randomQueries, passes),
            () => TimeLookups(new DictionaryLookup(craftedSource), craftedQueries, passes),
            () => TimeLookups(new DictionaryLookup(randomSource), randomQueries, passes));
        return new HashFloodResult(count, CollectionKeys.CraftedLength, ns[0], ns[1], ns[2], ns[3], ns[4], ns[5], buildCrafted / 1000, buildRandom / 1000);
    }

    /// <summary>The collection targets of the issue, from <paramref name="report"/>'s figures.</summary>
    public static void EvaluateTargets(BenchReport report)
    {
        if (report.Collections is not { } c)
        {
            return;
        }

        foreach (IGrouping<(string Shape, int Entries), StringLookupResult> run in c.StringLookups.GroupBy(r => (r.Shape, r.Entries)))
        {
            if (run.FirstOrDefault(r => r.Table == Protected) is { } p && run.FirstOrDefault(r => r.Table == Frozen) is { } f)
            {
                double ratio = f.NsPerLookup / p.NsPerLookup;
                report.Targets.Add(new($"string lookups ({run.Key.Entries:#,0} {run.Key.Shape}, copies of the keys, half misses) at least as fast as FrozenDictionary",
                    $"FrozenDictionary / ProtectedDictionary time = {ratio:0.00}x", ratio, 1, ratio >= 1));
            }
        }

        foreach (IGrouping<(string KeyType, int Entries), BuildResult> run in c.Builds.GroupBy(r => (r.KeyType, r.Entries)))
        {
            if (run.FirstOrDefault(r => r.Builder == "ToProtectedDictionary") is { } p && run.FirstOrDefault(r => r.Builder == "ToFrozenDictionary") is { } f)
            {
                double ratio = p.MicrosecondsPerBuild / f.MicrosecondsPerBuild;
                report.Targets.Add(new($"building from {run.Key.Entries:#,0} {run.Key.KeyType} keys at most 1.5x ToFrozenDictionary",
                    $"ToProtectedDictionary / ToFrozenDictionary time = {ratio:0.00}x ({p.MicrosecondsPerBuild:#,0.0} µs / {f.MicrosecondsPerBuild:#,0.0} µs)", ratio, 1.5, ratio <= 1.5));
            }
        }

        if (c.Flood is { } flood)
        {
            double ratio = flood.NsCrafted / flood.NsRandom;
            report.Targets.Add(new($"lookups of {flood.Keys:#,0} keys crafted to collide within 4x of random keys of the same shape",
                $"crafted / random time = {ratio:0.00}x ({flood.NsCrafted:0} ns / {flood.NsRandom:0} ns)", ratio, 4, ratio <= 4));
        }
    }

    /// <summary>Runs every measure <paramref name="rounds"/> times, interleaved, after a warm-up round; the median of each.</summary>
    private static double[] Interleave(int rounds, params Func<double>[] measures)
    {
        foreach (Func<double> measure in measures)
        {
            _ = measure();
        }

        List<double>[] times = [.. measures.Select(_ => new List<double>(rounds))];
        for (int r = 0; r < rounds; r++)
        {
            for (int i = 0; i < measures.Length; i++)
            {
                times[i].Add(measures[i]());
            }
        }

        return [.. times.Select(t => t.Order().ElementAt(t.Count / 2))];
    }

    private static double TimeLookups<TLookup>(TLookup table, string[] queries, int passes)
        where TLookup : struct, ILookup
    {
        long sum = 0;
        long t0 = Libc.ThreadCpuNs();
        for (int p = 0; p < passes; p++)
        {
            foreach (string query in queries)
            {
                sum += table.Find(query);
            }
        }

        double ns = (double)(Libc.ThreadCpuNs() - t0) / ((long)passes * queries.Length);
        GC.KeepAlive(sum);
        return ns;
    }

    /// <summary>µs per build, over <paramref name="repeats"/> builds; <paramref name="dispose"/> runs after the timing.</summary>
    private static double TimeBuilds<T>(int repeats, Func<T> build, Action<T>? dispose)
    {
        T[] built = new T[repeats];
        long t0 = Libc.ThreadCpuNs();
        for (int i = 0; i < repeats; i++)
        {
            built[i] = build();
        }

        double us = (double)(Libc.ThreadCpuNs() - t0) / repeats / 1000;
        foreach (T b in built)
        {
            dispose?.Invoke(b);
        }

        return us;
    }

    /// <summary>One table under measure: the value found for a key, or -1.</summary>
    private interface ILookup
    {
        int Find(string key);
    }

    private readonly struct ProtectedLookup(ProtectedDictionary<ProtectedString, int> table) : ILookup
    {
        public int Find(string key) => table.TryGetValue(key, out int value) ? value : -1;
    }

    private readonly struct ViewLookup(IReadOnlyDictionary<string, int> table) : ILookup
    {
        public int Find(string key) => table.TryGetValue(key, out int value) ? value : -1;
    }

    private readonly struct FrozenLookup(FrozenDictionary<string, int> table) : ILookup
    {
        public int Find(string key) => table.TryGetValue(key, out int value) ? value : -1;
    }

    private readonly struct DictionaryLookup(Dictionary<string, int> table) : ILookup
    {
        public int Find(string key) => table.TryGetValue(key, out int value) ? value : -1;
    }
}
