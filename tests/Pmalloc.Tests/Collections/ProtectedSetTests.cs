using System.Collections.Frozen;
using CsCheck;

namespace Pmalloc.Tests;

public class ProtectedSetTests
{
    [Fact]
    public void IntElements_AgreeWithFrozenSet_AndSetOperationsWithHashSet()
    {
        Gen.Select(Gen.Int[-30, 30].Array[0, 40], Gen.Int[-35, 35].Array[0, 40]).Sample((items, other) =>
        {
            FrozenSet<int> expected = items.ToFrozenSet();
            using ProtectedSet<int> actual = items.ToProtectedSet();
            Assert.Equal(expected.Count, actual.Count);
            foreach (int probe in Enumerable.Range(-40, 80))
            {
                Assert.Equal(expected.Contains(probe), actual.Contains(probe));
            }

            List<int> enumerated = [];
            foreach (int item in actual)
            {
                enumerated.Add(item);
            }

            Assert.Equal(expected.Order(), enumerated.Order());
            Assert.Equal(enumerated, Enumerable.Range(0, actual.Count).Select(i => actual[i]));
            Assert.Throws<ArgumentOutOfRangeException>(() => actual[actual.Count]);
            Assert.Throws<ArgumentOutOfRangeException>(() => actual[-1]);
            AgreeSetOperations(expected, actual, other);
            AgreeSetOperations(expected, actual, items.Take(items.Length / 2));
            AgreeSetOperations(expected, actual, items.Reverse());
        }, iter: 300);
    }

    [Fact]
    public void StringElements_AgreeWithFrozenSet_OrdinalAndIgnoreCase()
    {
        Gen.Select(CollectionAssert.Text.Array[0, 50], CollectionAssert.Text.Array[0, 30]).Sample((items, other) =>
        {
            foreach (StringComparer comparer in new[] { StringComparer.Ordinal, StringComparer.OrdinalIgnoreCase })
            {
                FrozenSet<string> expected = items.ToFrozenSet(comparer);
                using ProtectedSet<ProtectedString> actual = items.ToProtectedSet(comparer);
                Assert.Equal(expected.Count, actual.Count);
                foreach (string probe in items.Concat(other).Concat(items.Select(s => s.ToUpperInvariant())))
                {
                    bool found = expected.TryGetValue(probe, out string? stored);
                    Assert.Equal(found, actual.Contains(probe));
                    Assert.Equal(found, actual.Contains(probe.AsSpan()));
                    Assert.Equal(found, actual.TryGetValue(probe, out ProtectedString actualStored));
                    if (found)
                    {
                        Assert.Equal(stored, actualStored.ToString());
                    }
                }

                HashSet<string> enumerated = new(comparer);
                foreach (ProtectedString item in actual)
                {
                    Assert.True(enumerated.Add(item.ToString()));
                }

                Assert.True(enumerated.SetEquals(expected));
                AgreeSetOperations(expected, actual, other.Select(s => (ProtectedString)s), s => s.ToString());
            }
        }, iter: 200);
    }

    [Fact]
    public void Duplicates_AreDropped_FirstSpellingKept()
    {
        using ProtectedSet<int> ints = new[] { 3, 1, 3, 3, 2 }.ToProtectedSet();
        Assert.Equal(3, ints.Count);
        using ProtectedSet<ProtectedString> names = new[] { "Alice", "ALICE", "bob" }.ToProtectedSet(StringComparer.OrdinalIgnoreCase);
        Assert.Equal(2, names.Count);
        Assert.True(names.TryGetValue("alice", out ProtectedString stored));
        Assert.Equal("Alice", stored.ToString());
    }

    [Fact]
    public void NullString_IsRefused_AndTheCallersPoolUnchanged()
    {
        using WriteOncePool pool = new(new PoolOptions { Name = "sets" });
        pool.Allocate(10);
        PoolStatistics before = pool.Statistics;
        Assert.Throws<ArgumentNullException>(() => new[] { "a", null! }.ToProtectedSet(pool));
        Assert.Equal(before, pool.Statistics);
    }

    [Fact]
    public void Lookups_AllocateNothingOnTheGcHeap()
    {
        using ProtectedSet<ProtectedString> names = Enumerable.Range(0, 500).Select(i => $"name-{i}").ToProtectedSet();
        using ProtectedSet<long> ids = Enumerable.Range(0, 500).Select(i => (long)i * 11).ToProtectedSet();
        string[] probes = [.. Enumerable.Range(0, 1000).Select(i => $"name-{i}")];
        long Lookups()
        {
            long sum = 0;
            foreach (string probe in probes)
            {
                sum += names.Contains(probe) ? 1 : 0;
                sum += names.Contains(probe.AsSpan()) ? 1 : 0;
            }

            for (long i = 0; i < 2000; i++)
            {
                sum += ids.Contains(i) ? 1 : 0;
            }

            foreach (ProtectedString name in names)
            {
                sum += name.Length;
            }

            return sum;
        }

        long total = Lookups();
        long before = GC.GetAllocatedBytesForCurrentThread();
        total += Lookups();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(total > 0);
    }

    [Fact]
    public void AfterDispose_EveryMemberThrows_AndTheOwnedPoolIsDestroyed()
    {
        ProtectedSet<ProtectedString> set = new[] { "a" }.ToProtectedSet(StringComparer.Ordinal, new PoolOptions { Name = "gone" });
        Assert.Equal(PoolState.Protected, set.Pool.State);
        set.Dispose();
        set.Dispose();
        Assert.Equal(PoolState.Destroyed, set.Pool.State);
        Assert.Throws<ObjectDisposedException>(() => set.Count);
        Assert.Throws<ObjectDisposedException>(() => set.Contains("a"));
        Assert.Throws<ObjectDisposedException>(() => set.Contains("a".AsSpan()));
        Assert.Throws<ObjectDisposedException>(() => set.TryGetValue("a", out _));
        Assert.Throws<ObjectDisposedException>(() => set[0]);
        Assert.Throws<ObjectDisposedException>(() => set.Overlaps(["a"]));
        Assert.Throws<ObjectDisposedException>(() => set.SetEquals(["a"]));
        Assert.Throws<ObjectDisposedException>(() => set.GetEnumerator().MoveNext());
    }

    [Fact]
    public void WriteIntoTheHashTable_Faults()
    {
        Child.AssertFaults("set-table-write");
    }

    private static void AgreeSetOperations<T>(IReadOnlySet<T> expected, ProtectedSet<T> actual, IEnumerable<T> other)
        where T : notnull => AgreeSetOperations(expected, actual, other, x => x);

    /// <summary>Every IReadOnlySet operation of <paramref name="actual"/> answers as <paramref name="expected"/>'s, for <paramref name="other"/>.</summary>
    private static void AgreeSetOperations<TExpected, T>(IReadOnlySet<TExpected> expected, ProtectedSet<T> actual, IEnumerable<T> other, Func<T, TExpected> convert)
        where T : notnull
    {
        T[] items = [.. other];
        TExpected[] converted = [.. items.Select(convert)];
        Assert.Equal(expected.IsSubsetOf(converted), actual.IsSubsetOf(items));
        Assert.Equal(expected.IsProperSubsetOf(converted), actual.IsProperSubsetOf(items));
        Assert.Equal(expected.IsSupersetOf(converted), actual.IsSupersetOf(items));
        Assert.Equal(expected.IsProperSupersetOf(converted), actual.IsProperSupersetOf(items));
        Assert.Equal(expected.Overlaps(converted), actual.Overlaps(items));
        Assert.Equal(expected.SetEquals(converted), actual.SetEquals(items));
    }
}
