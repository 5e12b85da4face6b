using System.Collections.Frozen;
using System.Runtime.CompilerServices;
using CsCheck;

namespace Pmalloc.Tests;

public class ProtectedDictionaryTests
{
    /// <summary>A value type with several fields, compared field by field.</summary>
    public readonly record struct Grant(long Subject, int Rights, double Weight, bool Inherited);

    private static readonly Gen<Grant> GenGrant = Gen.Select(Gen.Long, Gen.Int, Gen.Double, Gen.Bool, (s, r, w, i) => new Grant(s, r, w, i));

    [Fact]
    public void IntKeys_AgreeWithFrozenDictionary()
    {
        Gen.Select(Gen.Int[-50, 50].ArrayUnique[0, 60], Gen.Int.Array[60], Gen.Int[-60, 60].Array[20]).Sample((keys, values, probes) =>
        {
            Dictionary<int, int> source = keys.Select((k, i) => KeyValuePair.Create(k, values[i])).ToDictionary();
            using ProtectedDictionary<int, int> actual = source.ToProtectedDictionary();
            CollectionAssert.Agree(source.ToFrozenDictionary(), actual, probes);
        }, iter: 200);
    }

    [Fact]
    public void LongKeysAndStructValues_AgreeWithFrozenDictionary()
    {
        Gen.Select(Gen.Long.ArrayUnique[0, 60], GenGrant.Array[60], Gen.Long.Array[20]).Sample((keys, values, probes) =>
        {
            Dictionary<long, Grant> source = keys.Select((k, i) => KeyValuePair.Create(k, values[i])).ToDictionary();
            using ProtectedDictionary<long, Grant> actual = source.ToProtectedDictionary();
            CollectionAssert.Agree(source.ToFrozenDictionary(), actual, probes.Concat(keys.Select(k => k ^ 1)));
        }, iter: 200);
    }

    [Fact]
    public void StringKeysAndValues_AgreeWithFrozenDictionary()
    {
        Gen.Select(CollectionAssert.Text.HashSet[0, 60], CollectionAssert.Text.Array[60], CollectionAssert.Text.Array[30]).Sample((keys, values, probes) =>
        {
            Dictionary<string, string> source = keys.Select((k, i) => KeyValuePair.Create(k, values[i])).ToDictionary();
            using ProtectedDictionary<ProtectedString, ProtectedString> actual = source.ToProtectedDictionary();
            CollectionAssert.AgreeStrings(source.ToFrozenDictionary(), actual, probes, v => v.ToString());
        }, iter: 200);
    }

    [Fact]
    public void StringKeysIntValues_AndIntKeysStringValues_AgreeWithFrozenDictionary()
    {
        Gen.Select(CollectionAssert.Text.HashSet[0, 60], Gen.Int.Array[60], CollectionAssert.Text.Array[30]).Sample((keys, values, probes) =>
        {
            Dictionary<string, int> byName = keys.Select((k, i) => KeyValuePair.Create(k, values[i])).ToDictionary();
            using ProtectedDictionary<ProtectedString, int> actual = byName.ToProtectedDictionary();
            CollectionAssert.AgreeStrings(byName.ToFrozenDictionary(), actual, probes, v => v);

            Dictionary<int, string> byId = keys.Select((k, i) => KeyValuePair.Create(i * 7, k)).ToDictionary();
            using ProtectedDictionary<int, ProtectedString> names = byId.ToProtectedDictionary();
            CollectionAssert.Agree(byId.ToFrozenDictionary(), names, Enumerable.Range(-3, 20), k => k, k => k, v => v.ToString());
        }, iter: 100);
    }

    [Fact]
    public void IgnoreCase_AgreesWithFrozenDictionary()
    {
        Gen.Select(CollectionAssert.Text.Array[0, 60], CollectionAssert.Text.Array[30]).Sample((candidates, probes) =>
        {
            // Keys distinct under ignore-case; probes in every case variant of keys and random text.
            string[] keys = candidates.Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
            Dictionary<string, int> source = keys.Select((k, i) => KeyValuePair.Create(k, i)).ToDictionary();
            using ProtectedDictionary<ProtectedString, int> actual = source.ToProtectedDictionary(StringComparer.OrdinalIgnoreCase);
            Assert.Same(StringComparer.OrdinalIgnoreCase, actual.Comparer);
            IEnumerable<string> variants = keys.SelectMany(k => new[] { k.ToUpperInvariant(), k.ToLowerInvariant() });
            CollectionAssert.AgreeStrings(source.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase), actual, probes.Concat(variants), v => v);
        }, iter: 200);
    }

    [Fact]
    public void IgnoreCase_NonAsciiLettersThatUpperCaseToAscii_AreFound()
    {
        // ı (dotless i) and ſ (long s) are the non-ASCII letters whose upper case is ASCII: whatever the runtime's
        // OrdinalIgnoreCase says about them, the protected dictionary must say the same.
        string[] keys = ["this", "SIS", "kelvin", "straße", "ıſ"];
        Dictionary<string, int> source = keys.Select((k, i) => KeyValuePair.Create(k, i)).ToDictionary();
        using ProtectedDictionary<ProtectedString, int> actual = source.ToProtectedDictionary(StringComparer.OrdinalIgnoreCase);
        string[] probes = ["thıs", "ſıſ", "\u212Aelvin", "STRASSE", "STRAẞE", "IS", "is", "ıs", "Iſ"];
        CollectionAssert.AgreeStrings(source.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase), actual, probes, v => v);
    }

    [Fact]
    public void EveryCharacterThatMatchesAnAsciiLetterIgnoringCase_IsKnownToTheHash()
    {
        // The ignore-case hash of an all-ASCII table folds non-ASCII characters to one class, except ı and ſ, which
        // OrdinalIgnoreCase may call equal to an ASCII letter (with ICU casing). This checks that assumption against the
        // runtime in use, for every UTF-16 code unit: a character the list misses would make lookups miss.
        for (int c = 0x80; c <= 0xFFFF; c++)
        {
            string text = ((char)c).ToString();
            for (char a = 'A'; a <= 'Z'; a++)
            {
                if (string.Equals(text, a.ToString(), StringComparison.OrdinalIgnoreCase))
                {
                    Assert.Equal(StringHash.OrdinalIgnoreCaseAscii(a.ToString()), StringHash.OrdinalIgnoreCaseAscii(text));
                }
            }
        }
    }

    [Fact]
    public void HundredThousandEntries_AgreeWithFrozenDictionary()
    {
        Random random = new(5);
        Dictionary<int, long> ints = [];
        while (ints.Count < 100_000)
        {
            ints[random.Next()] = random.NextInt64();
        }

        using (ProtectedDictionary<int, long> actual = ints.ToProtectedDictionary())
        {
            CollectionAssert.Agree(ints.ToFrozenDictionary(), actual, Enumerable.Range(0, 20_000).Select(_ => random.Next()));
        }

        Dictionary<string, string> strings = [];
        while (strings.Count < 100_000)
        {
            strings[$"user/{random.Next():x}/Ünïcødé"] = random.Next(4) == 0 ? "" : $"role-{random.Next(1000)}";
        }

        using ProtectedDictionary<ProtectedString, ProtectedString> names = strings.ToProtectedDictionary();
        string[] misses = Enumerable.Range(0, 20_000).Select(_ => $"user/{random.Next():x}/Ünïcødé").ToArray();
        CollectionAssert.AgreeStrings(strings.ToFrozenDictionary(), names, misses, v => v.ToString());
    }

    [Fact]
    public void Selectors_ProjectLikeToFrozenDictionary()
    {
        (string Name, int Id, string Role)[] users = [("alice", 1, "admin"), ("bob", 2, "reader")];
        using ProtectedDictionary<int, int> idToIndex = users.ToProtectedDictionary(u => u.Id, u => u.Id * 10);
        using ProtectedDictionary<ProtectedString, int> nameToId = users.ToProtectedDictionary(u => u.Name, u => u.Id, StringComparer.OrdinalIgnoreCase);
        using ProtectedDictionary<int, ProtectedString> idToName = users.ToProtectedDictionary(u => u.Id, u => u.Name);
        using ProtectedDictionary<ProtectedString, ProtectedString> roles = users.ToProtectedDictionary(u => u.Name, u => u.Role);
        Assert.Equal(20, idToIndex[2]);
        Assert.Equal(1, nameToId["ALICE"]);
        Assert.Equal("bob", idToName[2]);
        Assert.Equal("admin", roles["alice"]);
        (string Name, int Id, string Role)[] clash = [.. users, ("ALICE", 3, "x")];
        Assert.Throws<ArgumentException>(() => clash.ToProtectedDictionary(u => u.Name, u => u.Id, StringComparer.OrdinalIgnoreCase));
    }

    [Fact]
    public void DefaultComparerSemantics_ForFloatingPointKeys()
    {
        using ProtectedDictionary<double, int> actual = new Dictionary<double, int> { [double.NaN] = 1, [0.0] = 2, [1.5] = 3 }.ToProtectedDictionary();
        Assert.Equal(1, actual[double.NaN]);
        Assert.Equal(2, actual[-0.0]);
        Assert.False(actual.ContainsKey(double.Epsilon));
    }

    [Fact]
    public void EmptySource_GivesAnEmptyDictionary()
    {
        using ProtectedDictionary<int, int> ints = new Dictionary<int, int>().ToProtectedDictionary();
        using ProtectedDictionary<ProtectedString, int> strings = new Dictionary<string, int>().ToProtectedDictionary();
        Assert.Empty(ints);
        Assert.False(ints.ContainsKey(0));
        Assert.False(strings.ContainsKey(""));
        Assert.False(strings.TryGetValue("x".AsSpan(), out _));
        Assert.Throws<KeyNotFoundException>(() => strings["x"]);
    }

    [Fact]
    public void OwnedPool_IsProtectedAndHoldsTheData()
    {
        using ProtectedDictionary<ProtectedString, long> actual = new Dictionary<string, long> { ["alice"] = 7 }.ToProtectedDictionary(null, new PoolOptions { Name = "acl" });
        Assert.Equal("acl", actual.Pool.Name);
        Assert.Equal(PoolState.Protected, actual.Pool.State);
        Assert.Equal(1, actual.Pool.Statistics.LiveAllocations);
        ProtectedString key = actual.Keys[0];
        Assert.True(key.IsInPool);
        Assert.True(actual.Pool.Contains(key.DangerousAddress));
        unsafe
        {
            Assert.True(actual.Pool.Contains((nint)Unsafe.AsPointer(ref Unsafe.AsRef(in actual.GetValueRefOrNullRef("alice")))));
        }

        Assert.True(Unsafe.IsNullRef(in actual.GetValueRefOrNullRef("bob")));
    }

    [Fact]
    public void CallersPool_HoldsManyCollections_AndTheCallerProtectsAndDisposes()
    {
        WriteOncePool pool = new(new PoolOptions { Name = "policy" });
        ProtectedDictionary<ProtectedString, int> users = new Dictionary<string, int> { ["alice"] = 1, ["bob"] = 2 }.ToProtectedDictionary(pool);
        ProtectedSet<int> admins = new[] { 1 }.ToProtectedSet(pool);
        Assert.Same(pool, users.Pool);
        Assert.Equal(PoolState.Writable, pool.State);
        Assert.Equal(2, pool.Statistics.LiveAllocations);

        pool.Protect();
        Assert.True(admins.Contains(users["alice"]));

        // Disposing a collection leaves the caller's pool and the other collections alone.
        users.Dispose();
        Assert.Equal(PoolState.Protected, pool.State);
        Assert.True(admins.Contains(1));

        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => admins.Contains(1));
    }

    [Fact]
    public void DuplicateKey_ThrowsNamingTheKey_AndLeavesTheCallersPoolUnchanged()
    {
        using WriteOncePool empty = new(new PoolOptions { Name = "empty" });
        using WriteOncePool used = new(new PoolOptions { Name = "used" });
        used.Allocate(100);
        foreach (WriteOncePool pool in new[] { empty, used })
        {
            PoolStatistics before = pool.Statistics;
            KeyValuePair<int, int>[] ints = [new(1, 1), new(42, 2), new(42, 3)];
            ArgumentException e = Assert.Throws<ArgumentException>(() => ints.ToProtectedDictionary(pool));
            Assert.Contains("'42'", e.Message, StringComparison.Ordinal);
            Assert.Contains(pool.Name, e.Message, StringComparison.Ordinal);
            Assert.Equal(before, pool.Statistics);

            KeyValuePair<string, string>[] names = [new("Alice", "a"), new("alice", "b")];
            using (names.ToProtectedDictionary(pool))
            {
                // Distinct under the default ordinal comparer...
            }

            before = pool.Statistics;
            e = Assert.Throws<ArgumentException>(() => names.ToProtectedDictionary(pool, StringComparer.OrdinalIgnoreCase));
            Assert.Contains("'alice'", e.Message, StringComparison.Ordinal);
            Assert.Equal(before, pool.Statistics);

            KeyValuePair<string, int>[] nullKey = [new("a", 1), new(null!, 2)];
            Assert.Throws<ArgumentNullException>(() => nullKey.ToProtectedDictionary(pool));
            KeyValuePair<string, string>[] nullValue = [new("a", null!)];
            Assert.Throws<ArgumentNullException>(() => nullValue.ToProtectedDictionary(pool));
            Assert.Equal(before, pool.Statistics);
        }
    }

    [Fact]
    public void UnsupportedComparer_IsRefused()
    {
        Dictionary<string, int> source = new() { ["a"] = 1 };
        Assert.Throws<ArgumentException>(() => source.ToProtectedDictionary(StringComparer.InvariantCultureIgnoreCase));
        using ProtectedDictionary<ProtectedString, int> ordinal = source.ToProtectedDictionary(EqualityComparer<string>.Default);
        Assert.Same(StringComparer.Ordinal, ordinal.Comparer);
    }

    [Fact]
    public void CallersPool_AlreadyProtected_IsRefusedAndUnchanged()
    {
        using WriteOncePool pool = new(new PoolOptions { Name = "late" });
        pool.Protect();
        PoolStatistics before = pool.Statistics;
        Assert.Throws<InvalidOperationException>(() => new Dictionary<int, int> { [1] = 1 }.ToProtectedDictionary(pool));
        Assert.Equal(before, pool.Statistics);
    }

    [Fact]
    public void Lookups_AllocateNothingOnTheGcHeap()
    {
        Dictionary<string, string> names = Enumerable.Range(0, 1000).ToDictionary(i => $"user-{i}", i => $"role-{i % 7}");
        using ProtectedDictionary<ProtectedString, ProtectedString> byName = names.ToProtectedDictionary();
        using ProtectedDictionary<ProtectedString, ProtectedString> ignoreCase = names.ToProtectedDictionary(StringComparer.OrdinalIgnoreCase);
        using ProtectedDictionary<int, long> byId = Enumerable.Range(0, 1000).ToDictionary(i => i * 3, i => (long)i).ToProtectedDictionary();
        string[] probes = [.. names.Keys, .. names.Keys.Select(k => k + "?"), .. names.Keys.Select(k => k.ToUpperInvariant())];
        ProtectedDictionary<ProtectedString, ProtectedString>.AlternateLookup<ReadOnlySpan<char>> bySpan = byName.GetAlternateLookup<ReadOnlySpan<char>>();

        long total = Lookups();
        long before = GC.GetAllocatedBytesForCurrentThread();
        total += Lookups();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(total > 0);

        long Lookups()
        {
            long sum = 0;
            foreach (string probe in probes)
            {
                sum += byName.TryGetValue(probe, out ProtectedString role) ? role.Length : 0;
                sum += byName.TryGetValue(probe.AsSpan(), out role) ? role.Length : 0;
                sum += bySpan.TryGetValue(probe.AsSpan(), out role) ? role.Length : 0;
                sum += ignoreCase.ContainsKey(probe) ? 1 : 0;
                sum += byName.ContainsKey(probe.AsSpan()) ? 1 : 0;
            }

            for (int i = 0; i < 4000; i++)
            {
                sum += byId.TryGetValue(i, out long value) ? value : 0;
                sum += byId.ContainsKey(-i) ? 1 : 0;
            }

            sum += byName["user-1"].Length + byId[3];
            foreach (KeyValuePair<ProtectedString, ProtectedString> entry in byName)
            {
                sum += entry.Key.Length;
            }

            foreach (ProtectedString value in byName.Values)
            {
                sum += value.Length;
            }

            foreach (int key in byId.Keys)
            {
                sum += key;
            }

            return sum;
        }
    }

    [Fact]
    public void ConcurrentLookups_FromManyThreads_AllAgree()
    {
        Dictionary<string, int> source = Enumerable.Range(0, 10_000).ToDictionary(i => $"k{i * 7919 % 10_007}", i => i);
        using ProtectedDictionary<ProtectedString, int> actual = source.ToProtectedDictionary();
        string[] keys = [.. source.Keys];
        int wrong = 0;
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 4 }, worker =>
        {
            for (int i = worker; i < keys.Length * 4; i += 8)
            {
                string key = keys[i % keys.Length];
                if (!actual.TryGetValue(key, out int value) || value != source[key] || actual.ContainsKey(key + "!"))
                {
                    Interlocked.Increment(ref wrong);
                }
            }
        });
        Assert.Equal(0, wrong);
    }

    [Fact]
    public void KeysAndValuesByIndex_RefuseIndexesOutsideTheDictionary()
    {
        using ProtectedDictionary<int, int> ints = new Dictionary<int, int> { [1] = 10, [2] = 20 }.ToProtectedDictionary();
        Assert.Throws<ArgumentOutOfRangeException>(() => ints.Keys[-1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => ints.Keys[2]);
        Assert.Throws<ArgumentOutOfRangeException>(() => ints.Values[2]);
        Assert.Equal(ints[ints.Keys[1]], ints.Values[1]);
    }

    [Fact]
    public void AlternateLookup_OnlyForStringKeys()
    {
        using ProtectedDictionary<int, int> ints = new Dictionary<int, int> { [1] = 1 }.ToProtectedDictionary();
        Assert.Throws<InvalidOperationException>(() => ints.GetAlternateLookup<ReadOnlySpan<char>>());
        Assert.False(ints.TryGetAlternateLookup<string>(out _));

        using ProtectedDictionary<ProtectedString, int> strings = new Dictionary<string, int> { ["one"] = 1 }.ToProtectedDictionary();
        Assert.Equal(1, strings.GetAlternateLookup<string>()["one"]);
        Assert.True(strings.GetAlternateLookup<ReadOnlySpan<char>>().ContainsKey("one".AsSpan()));
        Assert.Throws<KeyNotFoundException>(() => strings.GetAlternateLookup<ReadOnlySpan<char>>()["two".AsSpan()]);
    }

    [Fact]
    public void AfterDispose_EveryMemberThrows_AndTheOwnedPoolIsDestroyed()
    {
        ProtectedDictionary<ProtectedString, int> dictionary = new Dictionary<string, int> { ["a"] = 1 }.ToProtectedDictionary();
        ProtectedDictionary<ProtectedString, int>.KeyCollection keys = dictionary.Keys;
        dictionary.Dispose();
        dictionary.Dispose();
        Assert.Equal(PoolState.Destroyed, dictionary.Pool.State);
        Assert.Throws<ObjectDisposedException>(() => dictionary.Count);
        Assert.Throws<ObjectDisposedException>(() => dictionary["a"]);
        Assert.Throws<ObjectDisposedException>(() => dictionary.TryGetValue("a", out _));
        Assert.Throws<ObjectDisposedException>(() => dictionary.TryGetValue("a".AsSpan(), out _));
        Assert.Throws<ObjectDisposedException>(() => dictionary.ContainsKey("a"));
        Assert.Throws<ObjectDisposedException>(() => dictionary.ContainsKey("a".AsSpan()));
        Assert.Throws<ObjectDisposedException>(() => dictionary.GetValueRefOrNullRef("a"));
        Assert.Throws<ObjectDisposedException>(() => dictionary.GetAlternateLookup<string>().ContainsKey("a"));
        Assert.Throws<ObjectDisposedException>(() => dictionary.Comparer);
        Assert.Throws<ObjectDisposedException>(() => dictionary.GetEnumerator().MoveNext());
        Assert.Throws<ObjectDisposedException>(() => keys.Count);
        Assert.Throws<ObjectDisposedException>(() => keys[0]);
        Assert.Throws<ObjectDisposedException>(() => dictionary.Values.ToList());
    }

    [Fact]
    public void WriteIntoAValue_Faults()
    {
        Child.AssertFaults("dictionary-value-write");
    }

    [Fact]
    public void WriteIntoAStringValue_Faults()
    {
        Child.AssertFaults("dictionary-string-value-write");
    }

    [Fact]
    public void WriteIntoTheHashTable_Faults()
    {
        Child.AssertFaults("dictionary-table-write");
    }
}
