using System.Collections.Frozen;
using CsCheck;

namespace Pmalloc.Tests;

/// <summary>
/// <c>AsReadOnlyDictionary</c> and <c>AsReadOnlySet</c>: the protected collections as the <see cref="IReadOnlyDictionary{TKey, TValue}"/>
/// and <see cref="IReadOnlySet{T}"/> of strings that .NET code takes, answering exactly as FrozenDictionary and FrozenSet do.
/// </summary>
public class StringViewTests
{
    [Fact]
    public void DictionaryView_IntValues_AgreesWithFrozenDictionary_OrdinalAndIgnoreCase()
    {
        Gen.Select(CollectionAssert.Text.Array[0, 60], Gen.Int.Array[60], CollectionAssert.Text.Array[30]).Sample((candidates, values, probes) =>
        {
            foreach (StringComparer comparer in new[] { StringComparer.Ordinal, StringComparer.OrdinalIgnoreCase })
            {
                string[] keys = candidates.Distinct(comparer).ToArray();
                Dictionary<string, int> source = keys.Select((k, i) => KeyValuePair.Create(k, values[i])).ToDictionary(comparer);
                using ProtectedDictionary<ProtectedString, int> dictionary = source.ToProtectedDictionary(comparer);
                IReadOnlyDictionary<string, int> view = dictionary.AsReadOnlyDictionary();
                IEnumerable<string> variants = keys.SelectMany(k => new[] { k.ToUpperInvariant(), k.ToLowerInvariant() });
                CollectionAssert.AgreeReadOnly(source.ToFrozenDictionary(comparer), view, probes.Concat(variants));
            }
        }, iter: 150);
    }

    [Fact]
    public void DictionaryView_StringValues_AgreesWithFrozenDictionary_AndCopiesValuesOut()
    {
        Gen.Select(CollectionAssert.Text.HashSet[0, 60], CollectionAssert.Text.Array[60], CollectionAssert.Text.Array[30]).Sample((keys, values, probes) =>
        {
            Dictionary<string, string> source = keys.Select((k, i) => KeyValuePair.Create(k, values[i])).ToDictionary();
            IReadOnlyDictionary<string, string> view;
            string[] copies;
            using (ProtectedDictionary<ProtectedString, ProtectedString> dictionary = source.ToProtectedDictionary())
            {
                view = dictionary.AsReadOnlyDictionary();
                CollectionAssert.AgreeReadOnly(source.ToFrozenDictionary(), view, probes);
                copies = [.. view.Values];
            }

            // The strings a view handed out are managed copies: they outlive the dictionary, the view does not.
            Assert.Equal(source.Values.Order(StringComparer.Ordinal), copies.Order(StringComparer.Ordinal));
            Assert.Throws<ObjectDisposedException>(() => view.Count);
        }, iter: 150);
    }

    [Fact]
    public void DictionaryView_OfALargeDictionary_AgreesWithFrozenDictionary()
    {
        Random random = new(8);
        Dictionary<string, long> source = [];
        while (source.Count < 50_000)
        {
            source[$"/srv/{random.Next(100)}/{random.Next():x}.dat"] = random.NextInt64();
        }

        using ProtectedDictionary<ProtectedString, long> dictionary = source.ToProtectedDictionary();
        string[] misses = [.. Enumerable.Range(0, 5_000).Select(_ => $"/srv/{random.Next(100)}/{random.Next():x}.dat")];
        CollectionAssert.AgreeReadOnly(source.ToFrozenDictionary(), dictionary.AsReadOnlyDictionary(), misses);
    }

    [Fact]
    public void SetView_AgreesWithFrozenSet_SetOperationsIncluded()
    {
        Gen.Select(CollectionAssert.Text.Array[0, 40], CollectionAssert.Text.Array[0, 30]).Sample((items, other) =>
        {
            foreach (StringComparer comparer in new[] { StringComparer.Ordinal, StringComparer.OrdinalIgnoreCase })
            {
                FrozenSet<string> expected = items.ToFrozenSet(comparer);
                using ProtectedSet<ProtectedString> set = items.ToProtectedSet(comparer);
                IReadOnlySet<string> view = set.AsReadOnlySet();
                Assert.Equal(expected.Count, view.Count);
                foreach (string probe in items.Concat(other).Concat(items.Select(s => s.ToUpperInvariant())))
                {
                    Assert.Equal(expected.Contains(probe), view.Contains(probe));
                }

                HashSet<string> enumerated = new(comparer);
                foreach (string item in view)
                {
                    Assert.True(enumerated.Add(item));
                }

                Assert.True(enumerated.SetEquals(expected));
                foreach (IEnumerable<string> operand in new[] { other, items.Take(items.Length / 2), items.Reverse(), [.. other, .. items] })
                {
                    Assert.Equal(expected.IsSubsetOf(operand), view.IsSubsetOf(operand));
                    Assert.Equal(expected.IsProperSubsetOf(operand), view.IsProperSubsetOf(operand));
                    Assert.Equal(expected.IsSupersetOf(operand), view.IsSupersetOf(operand));
                    Assert.Equal(expected.IsProperSupersetOf(operand), view.IsProperSupersetOf(operand));
                    Assert.Equal(expected.Overlaps(operand), view.Overlaps(operand));
                    Assert.Equal(expected.SetEquals(operand), view.SetEquals(operand));
                }
            }
        }, iter: 150);
    }

    [Fact]
    public void SetView_NullIsNeverAnElement_AsInAHashSetWithoutNull()
    {
        string[] items = ["a", "b"];
        HashSet<string?> expected = [.. items];
        using ProtectedSet<ProtectedString> set = items.ToProtectedSet();
        IReadOnlySet<string> view = set.AsReadOnlySet();
        Assert.False(view.Contains(null!));
        string[][] operands = [["a", null!], ["a", "b", null!], [null!]];
        foreach (string[] operand in operands)
        {
            Assert.Equal(expected.IsSupersetOf(operand), view.IsSupersetOf(operand));
            Assert.Equal(expected.IsSubsetOf(operand), view.IsSubsetOf(operand));
            Assert.Equal(expected.IsProperSubsetOf(operand), view.IsProperSubsetOf(operand));
            Assert.Equal(expected.SetEquals(operand), view.SetEquals(operand));
            Assert.Equal(expected.Overlaps(operand), view.Overlaps(operand));
        }
    }

    [Fact]
    public void DictionaryView_NullKey_ThrowsArgumentNullException_AsFrozenDictionaryDoes()
    {
        using ProtectedDictionary<ProtectedString, int> dictionary = new Dictionary<string, int> { ["a"] = 1 }.ToProtectedDictionary();
        IReadOnlyDictionary<string, int> view = dictionary.AsReadOnlyDictionary();
        IReadOnlyDictionary<string, int> frozen = new Dictionary<string, int> { ["a"] = 1 }.ToFrozenDictionary();
        foreach (IReadOnlyDictionary<string, int> d in new[] { frozen, view })
        {
            Assert.Throws<ArgumentNullException>(() => d.TryGetValue(null!, out _));
            Assert.Throws<ArgumentNullException>(() => d.ContainsKey(null!));
            Assert.Throws<ArgumentNullException>(() => d[null!]);
        }
    }

    [Fact]
    public void Views_Lookups_AllocateNothingOnTheGcHeap()
    {
        Dictionary<string, int> source = Enumerable.Range(0, 1000).ToDictionary(i => $"user-{i}", i => i);
        using ProtectedDictionary<ProtectedString, int> dictionary = source.ToProtectedDictionary();
        using ProtectedDictionary<ProtectedString, int> ignoreCase = source.ToProtectedDictionary(StringComparer.OrdinalIgnoreCase);
        using ProtectedSet<ProtectedString> set = source.Keys.ToProtectedSet();
        IReadOnlyDictionary<string, int> view = dictionary.AsReadOnlyDictionary(), foldedView = ignoreCase.AsReadOnlyDictionary();
        IReadOnlySet<string> setView = set.AsReadOnlySet();
        string[] probes = [.. source.Keys, .. source.Keys.Select(k => k + "?"), .. source.Keys.Select(k => k.ToUpperInvariant())];

        long total = Lookups();
        long before = GC.GetAllocatedBytesForCurrentThread();
        total += Lookups();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(total > 0);

        long Lookups()
        {
            long sum = 0;
            foreach (string probe in probes)
            {
                sum += view.TryGetValue(probe, out int value) ? value : 0;
                sum += foldedView.TryGetValue(probe, out value) ? value : 0;
                sum += view.ContainsKey(probe) ? 1 : 0;
                sum += setView.Contains(probe) ? 1 : 0;
            }

            return sum + view["user-7"];
        }
    }

    [Fact]
    public void Views_AfterDispose_Throw()
    {
        ProtectedDictionary<ProtectedString, int> dictionary = new Dictionary<string, int> { ["a"] = 1 }.ToProtectedDictionary();
        ProtectedSet<ProtectedString> set = new[] { "a" }.ToProtectedSet();
        IReadOnlyDictionary<string, int> view = dictionary.AsReadOnlyDictionary();
        IReadOnlySet<string> setView = set.AsReadOnlySet();
        IEnumerable<string> keys = view.Keys;
        dictionary.Dispose();
        set.Dispose();
        Assert.Throws<ObjectDisposedException>(() => view.Count);
        Assert.Throws<ObjectDisposedException>(() => view["a"]);
        Assert.Throws<ObjectDisposedException>(() => view.TryGetValue("a", out _));
        Assert.Throws<ObjectDisposedException>(() => view.ContainsKey("a"));
        Assert.Throws<ObjectDisposedException>(() => view.ToList());
        Assert.Throws<ObjectDisposedException>(() => keys.ToList());
        Assert.Throws<ObjectDisposedException>(() => view.Values.ToList());
        Assert.Throws<ObjectDisposedException>(() => setView.Count);
        Assert.Throws<ObjectDisposedException>(() => setView.Contains("a"));
        Assert.Throws<ObjectDisposedException>(() => setView.Contains(null!));
        Assert.Throws<ObjectDisposedException>(() => setView.IsSubsetOf(["a"]));
        Assert.Throws<ObjectDisposedException>(() => setView.ToList());
    }

    [Fact]
    public void FrozenDictionaryCode_RunsUnchanged_OnTheView()
    {
        // Code written for FrozenDictionary<string, int> through its interfaces: the switch is the one line that builds it.
        Dictionary<string, int> source = new() { ["alice"] = 3, ["bob"] = 1 };
        IReadOnlyDictionary<string, int> frozen = source.ToFrozenDictionary();
        using ProtectedDictionary<ProtectedString, int> table = source.ToProtectedDictionary();
        IReadOnlyDictionary<string, int> protectedView = table.AsReadOnlyDictionary();
        Assert.Equal(Use(frozen), Use(protectedView));

        static string Use(IReadOnlyDictionary<string, int> rights)
        {
            IEnumerable<string> names = rights.Keys;
            int total = rights.Values.Sum() + (rights.TryGetValue("alice", out int a) ? a : 0) + (rights.ContainsKey("eve") ? 100 : 0) + rights["bob"];
            return $"{string.Join(",", names.Order(StringComparer.Ordinal))}:{total}:{rights.Count}:{string.Join(",", rights.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"))}";
        }
    }
}
