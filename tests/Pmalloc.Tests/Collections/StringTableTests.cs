using System.Collections.Frozen;
using System.Runtime.CompilerServices;
using CsCheck;

namespace Pmalloc.Tests;

/// <summary>
/// The table of string keys (HashTable's ordered linear-probing slots and records): values of every size read from the
/// records agree with FrozenDictionary, every key sits where a lookup stops looking for it, and keys crafted to share one
/// hash code are rehashed with the runtime's randomized hash, so that they cannot lengthen any lookup.
/// </summary>
public unsafe class StringTableTests
{
    /// <summary>Keys of the crafted set: a fixed prefix and suffix around this many pairs of 4-character blocks.</summary>
    private const int CraftedPairs = 12;

    [Fact]
    public void ValuesOfEverySize_InStringKeyedTables_AgreeWithFrozenDictionary()
    {
        Gen.Select(CollectionAssert.Text.HashSet[0, 60], Gen.Long.Array[60], CollectionAssert.Text.Array[30]).Sample((keys, numbers, probes) =>
        {
            AgreeWithValues(keys, probes, i => unchecked((byte)numbers[i]));
            AgreeWithValues(keys, probes, i => numbers[i]);
            AgreeWithValues(keys, probes, i => new Int128(unchecked((ulong)numbers[i]), unchecked((ulong)~numbers[i])));
            AgreeWithValues(keys, probes, i => new Guid(unchecked((int)numbers[i]), (short)i, 7, 1, 2, 3, 4, 5, 6, 7, 8));
        }, iter: 100);
    }

    [Fact]
    public void EveryKey_LiesInTheRunALookupWalks_AndHashCodesAreNotCrowded()
    {
        // Keys of many lengths and shapes, so that runs of displaced keys form; a set (no values) and a dictionary.
        Random random = new(5);
        HashSet<string> keys = [];
        while (keys.Count < 20_000)
        {
            keys.Add(random.Next(4) switch
            {
                0 => $"user-{random.Next(1_000_000)}",
                1 => $"/usr/lib/{random.Next(100)}/{random.Next(100_000)}.so",
                2 => new string((char)('a' + random.Next(26)), random.Next(1, 40)) + random.Next(10_000),
                _ => Guid.NewGuid().ToString()[..random.Next(1, 36)],
            });
        }

        using ProtectedSet<ProtectedString> set = keys.ToProtectedSet();
        AssertLayout(set.Table, keys.ToArray());
        using ProtectedDictionary<ProtectedString, long> dictionary = keys.ToDictionary(k => k, k => (long)k.Length).ToProtectedDictionary();
        AssertLayout(dictionary.Table, keys.ToArray());
        foreach (string key in keys)
        {
            Assert.True(set.Contains(key));
            Assert.Equal(key.Length, dictionary[key]);
        }
    }

    [Fact]
    public void KeysCraftedToShareOneHashCode_AreRehashedWithTheRandomizedHash()
    {
        string[] crafted = Crafted(1 << CraftedPairs);

        // The premise: under this process's seed, every crafted key has one full ordinal hash code, and no slice tells them apart.
        Assert.Single(crafted.Select(k => StringHash.Ordinal(k)).Distinct());
        string[] keys = crafted[..(crafted.Length / 2)], misses = crafted[(crafted.Length / 2)..];
        using ProtectedDictionary<ProtectedString, int> table = keys.Select((k, i) => KeyValuePair.Create(k, i)).ToDictionary().ToProtectedDictionary();

        Assert.Equal(StringHashKind.Randomized, table.Table->HashKind);
        AssertLayout(table.Table, keys);
        for (int i = 0; i < keys.Length; i++)
        {
            Assert.Equal(i, table[new string(keys[i].AsSpan())]);
        }

        Assert.All(misses, m => Assert.False(table.ContainsKey(m)));
    }

    private static void AgreeWithValues<TValue>(HashSet<string> keys, string[] probes, Func<int, TValue> value)
        where TValue : unmanaged
    {
        Dictionary<string, TValue> source = keys.Select((k, i) => KeyValuePair.Create(k, value(i))).ToDictionary();
        using ProtectedDictionary<ProtectedString, TValue> actual = source.ToProtectedDictionary();
        FrozenDictionary<string, TValue> expected = source.ToFrozenDictionary();
        CollectionAssert.AgreeStrings(expected, actual, probes, v => v);
        foreach (string key in expected.Keys.Concat(probes))
        {
            ref readonly TValue stored = ref actual.GetValueRefOrNullRef(key);
            Assert.Equal(expected.ContainsKey(key), !Unsafe.IsNullRef(in stored));
            if (!Unsafe.IsNullRef(in stored))
            {
                Assert.Equal(expected[key], stored);
                Assert.True(actual.Pool.Contains((nint)Unsafe.AsPointer(ref Unsafe.AsRef(in stored))));
            }
        }
    }

    /// <summary>
    /// The layout a lookup relies on: occupied slots in order of home, each at or after its home and at most
    /// <see cref="HashTableBuilder.MaxDisplacement"/> past it, with no empty slot or later home between; each slot's record
    /// holds its key, and the records' entry indexes and <see cref="TableHeader.RecordOf"/> agree; no more than
    /// <see cref="HashTableBuilder.MaxSharedHashCode"/> keys share a hash code.
    /// </summary>
    private static void AssertLayout(TableHeader* table, string[] keys)
    {
        StringSlot* slots = (StringSlot*)table->Keys;
        int shift = table->BucketShift, occupied = 0;
        uint previousHome = 0;
        HashSet<string> seen = new(StringComparer.Ordinal);
        Dictionary<int, int> perHashCode = [];
        for (int position = 0; ; position++)
        {
            StringSlot slot = slots[position];
            if (slot.Record == 0)
            {
                if (position >= table->BucketCount)
                {
                    break;
                }

                continue;
            }

            uint home = HashTable.TopBits(slot.HashCode, shift);
            Assert.True(home >= previousHome, $"slot {position}: home {home} after home {previousHome}");
            Assert.InRange(position - (long)home, 0, HashTableBuilder.MaxDisplacement);
            for (long between = home; between < position; between++)
            {
                Assert.NotEqual(0, slots[between].Record);
            }

            StringRecord* record = (StringRecord*)(table->Records + ((nint)slot.Record << 3));
            string key = new(StringRecord.Chars(record), 0, record->Length);
            Assert.Equal(slot.HashCode, StringHash.Of(table->HashKind, key, table->SliceStart, table->SliceLength));
            Assert.Equal(slot.Record, table->RecordOf[record->Index]);
            Assert.True(seen.Add(key));
            perHashCode[slot.HashCode] = perHashCode.GetValueOrDefault(slot.HashCode) + 1;
            previousHome = home;
            occupied++;
        }

        Assert.Equal(keys.Length, occupied);
        Assert.True(seen.SetEquals(keys));
        Assert.InRange(perHashCode.Values.DefaultIfEmpty(0).Max(), 0, HashTableBuilder.MaxSharedHashCode);
    }

    /// <summary>
    /// <paramref name="count"/> keys with one full ordinal hash code under every seed (as the bench's hash-flooding keys):
    /// flipping bit 63 of one 4-unit block and bit 28 of the next cancels in <c>rotl((h ^ block) * M, 29)</c>; the same 24
    /// characters at both ends leave no slice that tells them apart.
    /// </summary>
    private static string[] Crafted(int count)
    {
        string[] keys = new string[count];
        char[] key = new char[48 + (CraftedPairs * 8)];
        for (int k = 0; k < count; k++)
        {
            key.AsSpan().Fill('a');
            for (int pair = 0; pair < CraftedPairs; pair++)
            {
                if (((k >> pair) & 1) != 0)
                {
                    int block = 24 + (pair * 8);
                    key[block + 3] ^= '\u8000';
                    key[block + 5] ^= '\u1000';
                }
            }

            keys[k] = new string(key);
        }

        return keys;
    }
}
