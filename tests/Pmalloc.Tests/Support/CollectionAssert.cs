using System.Collections.Frozen;
using CsCheck;

namespace Pmalloc.Tests;

/// <summary>Shared generators and checks for the protected-collection tests: every answer is compared with FrozenDictionary's.</summary>
internal static class CollectionAssert
{
    /// <summary>Short strings over a small alphabet (so lookups often hit and keys share prefixes and lengths), with case pairs,
    /// non-ASCII letters (including ı and ſ, which upper-case to ASCII), an astral character's surrogates, and the empty string.</summary>
    internal static readonly Gen<string> Text = Gen.String[Gen.Char["aAbBzZ0_ßüÜıIſS€\ud83d\ude00"], 0, 7];

    /// <summary>Same-type keys and values: the protected dictionary must answer exactly as the frozen one.</summary>
    internal static void Agree<TKey, TValue>(FrozenDictionary<TKey, TValue> expected, ProtectedDictionary<TKey, TValue> actual, IEnumerable<TKey> probes)
        where TKey : notnull =>
        Agree(expected, actual, probes, k => k, k => k, v => v);

    /// <summary>String keys and values: looked up by string, by span and by alternate lookup; values compared as text.</summary>
    internal static void AgreeStrings<TValue, TStored>(FrozenDictionary<string, TValue> expected, ProtectedDictionary<ProtectedString, TStored> actual, IEnumerable<string> probes, Func<TStored, TValue> fromStored)
    {
        Agree(expected, actual, probes, k => k, k => k.ToString(), fromStored);
        ProtectedDictionary<ProtectedString, TStored>.AlternateLookup<ReadOnlySpan<char>> bySpan = actual.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (string key in expected.Keys.Concat(probes))
        {
            bool found = expected.TryGetValue(key, out TValue? value);
            Assert.Equal(found, actual.TryGetValue(key.AsSpan(), out TStored? got));
            Assert.Equal(found, actual.ContainsKey(key.AsSpan()));
            Assert.Equal(found, bySpan.TryGetValue(key.AsSpan(), out TStored? got2));
            if (found)
            {
                Assert.Equal(value, fromStored(got!));
                Assert.Equal(value, fromStored(got2!));
            }
        }
    }

    /// <summary>
    /// Asserts that a read-only dictionary (a view) answers every member of <see cref="IReadOnlyDictionary{TKey, TValue}"/> as
    /// <paramref name="expected"/> does: lookups of every key and probe, the indexer's KeyNotFoundException, Count, and an
    /// enumeration, Keys and Values that hold exactly the expected entries in one shared order.
    /// </summary>
    internal static void AgreeReadOnly<TKey, TValue>(FrozenDictionary<TKey, TValue> expected, IReadOnlyDictionary<TKey, TValue> actual, IEnumerable<TKey> probes)
        where TKey : notnull
    {
        Assert.Equal(expected.Count, actual.Count);
        foreach (TKey key in expected.Keys.Concat(probes))
        {
            bool found = expected.TryGetValue(key, out TValue? value);
            Assert.Equal(found, actual.TryGetValue(key, out TValue? got));
            Assert.Equal(found, actual.ContainsKey(key));
            if (found)
            {
                Assert.Equal(value, got);
                Assert.Equal(value, actual[key]);
            }
            else
            {
                Assert.Throws<KeyNotFoundException>(() => actual[key]);
            }
        }

        List<KeyValuePair<TKey, TValue>> entries = [.. actual];
        Assert.Equal(expected.Count, entries.Count);
        Assert.Equal(entries.Select(e => e.Key), actual.Keys);
        Assert.Equal(entries.Select(e => e.Value), actual.Values);
        Assert.Equal(expected.Count, actual.Keys.Count());
        Dictionary<TKey, TValue> seen = new(expected.Comparer);
        foreach ((TKey key, TValue value) in entries)
        {
            seen.Add(key, value);
        }

        foreach ((TKey key, TValue value) in expected)
        {
            Assert.True(seen.TryGetValue(key, out TValue? got), $"the enumeration misses {key}");
            Assert.Equal(value, got);
        }
    }

    /// <summary>Asserts that <paramref name="actual"/> answers every lookup and enumeration as <paramref name="expected"/> does.</summary>
    internal static void Agree<TKey, TValue, TStoredKey, TStoredValue>(
        FrozenDictionary<TKey, TValue> expected,
        ProtectedDictionary<TStoredKey, TStoredValue> actual,
        IEnumerable<TKey> probes,
        Func<TKey, TStoredKey> toStoredKey,
        Func<TStoredKey, TKey> fromStoredKey,
        Func<TStoredValue, TValue> fromStoredValue)
        where TKey : notnull
        where TStoredKey : notnull
    {
        Assert.Equal(expected.Count, actual.Count);
        foreach (TKey key in expected.Keys.Concat(probes))
        {
            TStoredKey stored = toStoredKey(key);
            bool found = expected.TryGetValue(key, out TValue? value);
            Assert.Equal(found, actual.TryGetValue(stored, out TStoredValue? got));
            Assert.Equal(found, actual.ContainsKey(stored));
            if (found)
            {
                Assert.Equal(value, fromStoredValue(got!));
                Assert.Equal(value, fromStoredValue(actual[stored]));
            }
            else
            {
                Assert.Throws<KeyNotFoundException>(() => actual[stored]);
            }
        }

        // Enumeration, Keys and Values share one order; together they hold exactly the expected entries.
        List<KeyValuePair<TStoredKey, TStoredValue>> entries = [];
        foreach (KeyValuePair<TStoredKey, TStoredValue> entry in actual)
        {
            entries.Add(entry);
        }

        Assert.Equal(expected.Count, entries.Count);
        Assert.Equal(entries.Select(e => e.Key), actual.Keys);
        Assert.Equal(entries.Select(e => e.Value), actual.Values);
        Assert.Equal(entries.Select(e => e.Key), ((IReadOnlyDictionary<TStoredKey, TStoredValue>)actual).Keys);
        Assert.Equal(entries.Select(e => e.Value), ((IReadOnlyDictionary<TStoredKey, TStoredValue>)actual).Values);
        Assert.Equal(entries, ((IEnumerable<KeyValuePair<TStoredKey, TStoredValue>>)actual).ToList());
        for (int i = 0; i < entries.Count; i++)
        {
            Assert.Equal(entries[i].Key, actual.Keys[i]);
            Assert.Equal(entries[i].Value, actual.Values[i]);
        }

        Dictionary<TKey, TValue> seen = new(expected.Comparer);
        foreach ((TStoredKey key, TStoredValue value) in entries)
        {
            seen.Add(fromStoredKey(key), fromStoredValue(value));
        }

        foreach ((TKey key, TValue value) in expected)
        {
            Assert.True(seen.TryGetValue(key, out TValue? got), $"the enumeration misses {key}");
            Assert.Equal(value, got);
        }
    }
}
