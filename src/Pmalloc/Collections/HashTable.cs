using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Pmalloc;

/// <summary>
/// The hash table behind <see cref="ProtectedDictionary{TKey, TValue}"/> and <see cref="ProtectedSet{T}"/>, laid out
/// in one pool allocation, after <c>FrozenHashTable</c>: a header (<see cref="TableHeader"/>), the bucket starts, then
/// the entries grouped by bucket (cached hash codes where kept, keys, values), then the UTF-16 text of string keys and
/// values. <see cref="HashTableBuilder"/> lays it out; this class reads it.
/// </summary>
/// <remarks>
/// <para><b>Lookup.</b> Hash the key, pick the bucket (for unmanaged keys with Lemire's fast modulo by a prime bucket
/// count, so that even sequential keys spread; for string keys, whose hashes are well mixed, with the top bits of the hash
/// code and a power-of-two bucket count, one shift instead of two multiplications on the path of every lookup), scan the
/// bucket's entries (few: the bucket count is chosen to minimise collisions, and the build refuses crowded buckets for
/// string keys). Primitive keys are compared directly (their first candidate with one branch for hit or miss); string
/// keys compare their hash code and length as one 8-byte value, then the text; others compare the cached hash code
/// first. Everything a lookup reads is in the pool, so once the pool is protected not even the table's shape can be
/// altered.</para>
/// <para><b>Keys.</b> Unmanaged keys use <see cref="EqualityComparer{T}.Default"/> (so <c>NaN</c> finds <c>NaN</c>
/// and <c>-0.0</c> finds <c>0.0</c>, as in <see cref="Dictionary{TKey, TValue}"/>); the JIT specializes and inlines it
/// per key type. String keys are stored as <see cref="StringKey"/> entries and hashed by <see cref="StringHash"/>
/// (ordinal or ordinal-ignore-case, often over a slice of the key), and their length range rejects many misses before
/// any hashing. String values are <see cref="StringKey"/> entries too; a <see cref="ProtectedString"/> is made from one
/// when it is handed out, with the collection's <see cref="TableLifetime"/>.</para>
/// </remarks>
internal static unsafe class HashTable
{
    /// <summary>Finds the entry index of <paramref name="key"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int IndexOf<TKey>(TableHeader* table, TKey key)
    {
        if (typeof(TKey) == typeof(ProtectedString))
        {
            return IndexOfString(table, Unsafe.As<TKey, ProtectedString>(ref key).KeySpan);
        }

        int hash = EqualityComparer<TKey>.Default.GetHashCode(key!);
        int* bucket = table->BucketStarts + FastMod(unchecked((uint)hash), (uint)table->BucketCount, table->FastModMultiplier);
        int first = bucket[0], end = bucket[1];
        ref TKey keys = ref Unsafe.AsRef<TKey>(table->Keys);
        if (ComparesKeysOnly<TKey>())
        {
            // The bucket's first key is read even when the bucket is empty (the keys end with a spare slot), so that
            // hit-or-miss is one branch: separate branches on emptiness and on the key would each be mispredicted
            // often, as lookups mix hits and misses.
            if (EqualityComparer<TKey>.Default.Equals(Unsafe.Add(ref keys, first), key) & first < end)
            {
                return first;
            }

            for (int i = first + 1; i < end; i++)
            {
                if (EqualityComparer<TKey>.Default.Equals(Unsafe.Add(ref keys, i), key))
                {
                    return i;
                }
            }

            return -1;
        }

        for (int i = first; i < end; i++)
        {
            if (table->HashCodes[i] == hash && EqualityComparer<TKey>.Default.Equals(Unsafe.Add(ref keys, i), key))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Finds the entry index of the string <paramref name="key"/> in a table of <see cref="ProtectedString"/> keys, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int IndexOfString(TableHeader* table, ReadOnlySpan<char> key)
    {
        // Equal strings have equal lengths, under ordinal-ignore-case too (it maps char to char).
        if (unchecked((uint)(key.Length - table->MinLength) > (uint)table->LengthRange))
        {
            return -1;
        }

        return table->HashKind switch
        {
            StringHashKind.OrdinalSlice4 => Find<StringHash.OrdinalSlice4>(table, key),
            StringHashKind.OrdinalSlice8 => Find<StringHash.OrdinalSlice8>(table, key),
            StringHashKind.OrdinalSlice => Find<StringHash.OrdinalSliceAny>(table, key),
            StringHashKind.Ordinal => Find<StringHash.OrdinalFull>(table, key),
            StringHashKind.IgnoreCaseAsciiSlice4 => Find<StringHash.IgnoreCaseAsciiSlice4>(table, key),
            StringHashKind.IgnoreCaseAsciiSlice8 => Find<StringHash.IgnoreCaseAsciiSlice8>(table, key),
            StringHashKind.IgnoreCaseAsciiSlice => Find<StringHash.IgnoreCaseAsciiSliceAny>(table, key),
            StringHashKind.IgnoreCaseAscii => Find<StringHash.IgnoreCaseAsciiFull>(table, key),
            StringHashKind.Randomized => Find<StringHash.Randomized>(table, key),
            _ => Find<StringHash.RandomizedIgnoreCase>(table, key),
        };
    }

    /// <summary>The lookup of a string key whose length is in the table's range, compiled once per <typeparamref name="TKind"/>.</summary>
    private static int Find<TKind>(TableHeader* table, ReadOnlySpan<char> key)
        where TKind : struct, StringHash.IKind
    {
        int length = key.Length;
        int hash = TKind.Hash(key, table->SliceStart, table->SliceLength);
        int* bucket = table->BucketStarts + TopBits(hash, table->BucketShift);
        StringKey* keys = (StringKey*)table->Keys;
        StringKey* entry = keys + bucket[0];
        StringKey* end = keys + bucket[1];
        long tag = StringKey.Tag(hash, length);
        for (; entry < end; entry++)
        {
            if (Unsafe.ReadUnaligned<long>(entry) == tag &&
                (TKind.IgnoreCase ? EqualsIgnoreCase(key, new(entry->Chars, length)) : key.SequenceEqual(new ReadOnlySpan<char>(entry->Chars, length))))
            {
                return (int)(entry - keys);
            }
        }

        return -1;
    }

    /// <summary>
    /// <see cref="StringComparison.OrdinalIgnoreCase"/> equality, with the vectorized ASCII comparison first: it is exact when
    /// it says equal, and when both strings are ASCII; only text beyond ASCII takes the runtime's general path.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool EqualsIgnoreCase(ReadOnlySpan<char> key, ReadOnlySpan<char> candidate) =>
        System.Text.Ascii.EqualsIgnoreCase(key, candidate) ||
        (!(System.Text.Ascii.IsValid(key) && System.Text.Ascii.IsValid(candidate)) && key.Equals(candidate, StringComparison.OrdinalIgnoreCase));

    /// <summary>The key of entry <paramref name="index"/>; a string key is readable while <paramref name="lifetime"/> is alive.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TKey KeyAt<TKey>(TableHeader* table, int index, TableLifetime lifetime)
    {
        if (typeof(TKey) == typeof(ProtectedString))
        {
            return Text<TKey>((StringKey*)table->Keys + index, lifetime);
        }

        return Unsafe.Add(ref Unsafe.AsRef<TKey>(table->Keys), index);
    }

    /// <summary>The value of entry <paramref name="index"/>; a string value is readable while <paramref name="lifetime"/> is alive.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TValue ValueAt<TValue>(TableHeader* table, int index, TableLifetime lifetime)
    {
        if (typeof(TValue) == typeof(ProtectedString))
        {
            return Text<TValue>((StringKey*)table->Values + index, lifetime);
        }

        return Unsafe.Add(ref Unsafe.AsRef<TValue>(table->Values), index);
    }

    /// <summary>A reference to the value of entry <paramref name="index"/> in the pool (unmanaged values only: string values are stored as <see cref="StringKey"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ref readonly TValue ValueRefAt<TValue>(TableHeader* table, int index)
    {
        Debug.Assert(typeof(TValue) != typeof(ProtectedString));
        return ref Unsafe.Add(ref Unsafe.AsRef<TValue>(table->Values), index);
    }

    /// <summary>The bytes of one key slot in a table of <typeparamref name="T"/> keys, or of one value slot.</summary>
    internal static int SlotSize<T>() => typeof(T) == typeof(ProtectedString) ? sizeof(StringKey) : Unsafe.SizeOf<T>();

    /// <summary>The bucket of a string key's hash code: its top bits (the hashes' best mixed), one shift instead of a modulo.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint TopBits(int hash, int shift) => unchecked((uint)((ulong)(uint)hash >> shift));

    /// <summary><c>value % divisor</c> without a division (Lemire; the runtime's <c>HashHelpers.FastMod</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint FastMod(uint value, uint divisor, ulong multiplier) =>
        unchecked((uint)(((((multiplier * value) >> 32) + 1) * divisor) >> 32));

    /// <summary>The multiplier for <see cref="FastMod"/> by <paramref name="divisor"/> (it wraps to 0 for 1, which still works).</summary>
    internal static ulong FastModMultiplier(uint divisor) => unchecked((ulong.MaxValue / divisor) + 1);

    /// <summary>Primitive keys: comparing two keys costs no more than comparing their hash codes, so the scan compares keys only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool ComparesKeysOnly<T>() =>
        typeof(T) == typeof(int) || typeof(T) == typeof(uint) || typeof(T) == typeof(long) || typeof(T) == typeof(ulong) ||
        typeof(T) == typeof(short) || typeof(T) == typeof(ushort) || typeof(T) == typeof(byte) || typeof(T) == typeof(sbyte) ||
        typeof(T) == typeof(char) || typeof(T) == typeof(nint) || typeof(T) == typeof(nuint) || typeof(T) == typeof(bool) ||
        typeof(T) == typeof(double) || typeof(T) == typeof(float);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Text<T>(StringKey* entry, TableLifetime lifetime)
    {
        Debug.Assert(typeof(T) == typeof(ProtectedString));
        ProtectedString text = new(lifetime, entry->Chars, entry->Length);
        return Unsafe.As<ProtectedString, T>(ref text);
    }
}
