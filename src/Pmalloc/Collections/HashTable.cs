using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Pmalloc;

/// <summary>
/// The hash table behind <see cref="ProtectedDictionary{TKey, TValue}"/> and <see cref="ProtectedSet{T}"/>, laid out
/// in one pool allocation: a header (<see cref="TableHeader"/>), the index (buckets or slots, below), the values in entry
/// order, then the UTF-16 text of string values. <see cref="HashTableBuilder"/> lays it out; this class reads it.
/// </summary>
/// <remarks>
/// <para><b>Unmanaged keys</b>, after <c>FrozenHashTable</c>: the bucket starts, then the entries grouped by bucket (cached
/// hash codes where kept, keys). A lookup hashes the key with <see cref="EqualityComparer{T}.Default"/> (so <c>NaN</c> finds
/// <c>NaN</c> and <c>-0.0</c> finds <c>0.0</c>, as in <see cref="Dictionary{TKey, TValue}"/>; the JIT specializes and inlines
/// it per key type), picks the bucket with Lemire's fast modulo by a prime count (so that even sequential keys spread), and
/// scans it: primitive keys compared directly, their first candidate with one branch for hit or miss; others compare the
/// cached hash code first.</para>
/// <para><b>String keys</b> are hashed by <see cref="StringHash"/> (ordinal or ordinal-ignore-case, often over a slice of the
/// key; well mixed, so a power-of-two count of homes and one shift instead of a modulo) and live in an ordered
/// linear-probing area of 8-byte <see cref="StringSlot"/>s: a key's home is the top bits of its hash code, and the keys are
/// placed in order of home, each at its home or just after the keys placed before it. A slot holds the hash code and where
/// the key's <see cref="StringRecord"/> is: its length, its entry index and its text, together. A lookup reads the slot at
/// its home and, when the hash code matches, the record; it moves on only past keys of the same or an earlier home, and
/// stops at an empty slot or a later home. So a hit costs two dependent memory reads (the slot, the record) and most misses
/// one (at most half the homes are used), where a bucket index costs three and two; that is what counts once the table
/// outgrows the caches. The length range rejects many misses before any hashing. String values are <see cref="TextRef"/>
/// entries; a <see cref="ProtectedString"/> is made from a record or a <see cref="TextRef"/> when it is handed out, with the
/// collection's <see cref="TableLifetime"/>.</para>
/// <para>Everything a lookup reads is in the pool, so once the pool is protected not even the table's shape can be altered.</para>
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
        StringRecord* record = FindString(table, key);
        return record is null ? -1 : record->Index;
    }

    /// <summary>Finds the record of the string <paramref name="key"/> in a table of <see cref="ProtectedString"/> keys, or null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static StringRecord* FindString(TableHeader* table, ReadOnlySpan<char> key)
    {
        // Equal strings have equal lengths, under ordinal-ignore-case too (it maps char to char).
        if (unchecked((uint)(key.Length - table->MinLength) > (uint)table->LengthRange))
        {
            return null;
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

    /// <summary>Looks up <paramref name="key"/>: for string keys the value is read from the key's record, one place for both.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool TryGetValue<TKey, TValue>(TableHeader* table, TKey key, TableLifetime lifetime, [MaybeNullWhen(false)] out TValue value)
    {
        if (typeof(TKey) == typeof(ProtectedString))
        {
            return TryGetStringValue(table, Unsafe.As<TKey, ProtectedString>(ref key).KeySpan, lifetime, out value);
        }

        int index = IndexOf(table, key);
        if (index < 0)
        {
            value = default!;
            return false;
        }

        value = ValueAt<TKey, TValue>(table, index, lifetime);
        return true;
    }

    /// <summary>Looks up the string <paramref name="key"/> in a table of <see cref="ProtectedString"/> keys.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool TryGetStringValue<TValue>(TableHeader* table, ReadOnlySpan<char> key, TableLifetime lifetime, [MaybeNullWhen(false)] out TValue value)
    {
        StringRecord* record = FindString(table, key);
        if (record is null)
        {
            value = default!;
            return false;
        }

        value = RecordValue<TValue>(record, lifetime);
        return true;
    }

    /// <summary>A reference to the value stored for <paramref name="key"/> in the pool, or a null reference (unmanaged values only).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ref readonly TValue ValueRef<TKey, TValue>(TableHeader* table, TKey key)
    {
        Debug.Assert(typeof(TValue) != typeof(ProtectedString));
        if (typeof(TKey) == typeof(ProtectedString))
        {
            StringRecord* record = FindString(table, Unsafe.As<TKey, ProtectedString>(ref key).KeySpan);
            return ref record is null ? ref Unsafe.NullRef<TValue>() : ref Unsafe.AsRef<TValue>(StringRecord.Value(record));
        }

        int index = IndexOf(table, key);
        return ref index < 0 ? ref Unsafe.NullRef<TValue>() : ref Unsafe.Add(ref Unsafe.AsRef<TValue>(table->Values), index);
    }

    /// <summary>The lookup of a string key whose length is in the table's range, compiled once per <typeparamref name="TKind"/>.</summary>
    /// <remarks>
    /// Four slots at a time, compared in two 16-byte vectors (the slot area ends with three spare slots), as a Swiss table
    /// probes a group: a miss, whose run from its home is short (at most half the homes are used), usually ends in one
    /// window with one branch that depends on the key, hit or miss, as in a sparse bucket index. Slot by slot, each slot
    /// taken by another key would cost a branch mispredicted half the time.
    /// </remarks>
    private static StringRecord* Find<TKind>(TableHeader* table, ReadOnlySpan<char> key)
        where TKind : struct, StringHash.IKind
    {
        int hash = TKind.Hash(key, table->SliceStart, table->SliceLength);
        int shift = table->BucketShift;
        uint home = TopBits(hash, shift);
        int* slot = (int*)((StringSlot*)table->Keys + home);
        byte* records = table->Records;

        // Lanes alternate hash code, record. A later home is a hash code above the last one of this home.
        Vector128<int> hashes = Vector128.Create(hash);
        Vector128<uint> lastOfHome = Vector128.Create(unchecked((uint)((((ulong)home + 1) << shift) - 1)));
        while (true)
        {
            Vector128<int> low = Vector128.Load(slot), high = Vector128.Load(slot + 4);
            uint matches = (Vector128.Equals(low, hashes).ExtractMostSignificantBits() |
                (Vector128.Equals(high, hashes).ExtractMostSignificantBits() << 4)) & 0b0101_0101;
            while (matches != 0)
            {
                int lane = BitOperations.TrailingZeroCount(matches);
                StringRecord* record = (StringRecord*)(records + ((nint)slot[lane + 1] << 3));
                if (Matches<TKind>(key, record))
                {
                    return record;
                }

                matches &= matches - 1;
            }

            // Keys are in order of home: past an empty slot or a later home, this key cannot be.
            uint ends = ((Vector128.Equals(low, Vector128<int>.Zero).ExtractMostSignificantBits() |
                (Vector128.Equals(high, Vector128<int>.Zero).ExtractMostSignificantBits() << 4)) & 0b1010_1010) |
                ((Vector128.GreaterThan(low.AsUInt32(), lastOfHome).ExtractMostSignificantBits() |
                (Vector128.GreaterThan(high.AsUInt32(), lastOfHome).ExtractMostSignificantBits() << 4)) & 0b0101_0101);
            if (ends != 0)
            {
                return null;
            }

            slot += 8;
        }
    }

    /// <summary>Is <paramref name="record"/> (whose hash code matched) the record of <paramref name="key"/>? The sentinel record of empty slots never is.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Matches<TKind>(ReadOnlySpan<char> key, StringRecord* record)
        where TKind : struct, StringHash.IKind
    {
        int length = key.Length;
        char* chars = StringRecord.Chars(record);
        return record->Length == length &&
            (TKind.IgnoreCase ? EqualsIgnoreCase(key, new(chars, length)) : key.SequenceEqual(new ReadOnlySpan<char>(chars, length)));
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
            StringRecord* record = RecordAt(table, index);
            return Text<TKey>(StringRecord.Chars(record), record->Length, lifetime);
        }

        return Unsafe.Add(ref Unsafe.AsRef<TKey>(table->Keys), index);
    }

    /// <summary>The value of entry <paramref name="index"/>; a string value is readable while <paramref name="lifetime"/> is alive.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TValue ValueAt<TKey, TValue>(TableHeader* table, int index, TableLifetime lifetime)
    {
        if (typeof(TKey) == typeof(ProtectedString))
        {
            return RecordValue<TValue>(RecordAt(table, index), lifetime);
        }

        if (typeof(TValue) == typeof(ProtectedString))
        {
            TextRef* value = (TextRef*)table->Values + index;
            return Text<TValue>(value->Chars, value->Length, lifetime);
        }

        return Unsafe.Add(ref Unsafe.AsRef<TValue>(table->Values), index);
    }

    /// <summary>The record of entry <paramref name="index"/> in a table of string keys.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static StringRecord* RecordAt(TableHeader* table, int index) =>
        (StringRecord*)(table->Records + ((nint)table->RecordOf[index] << 3));

    /// <summary>The value in a string key's record; a string value is readable while <paramref name="lifetime"/> is alive.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TValue RecordValue<TValue>(StringRecord* record, TableLifetime lifetime)
    {
        byte* value = StringRecord.Value(record);
        if (typeof(TValue) == typeof(ProtectedString))
        {
            return Text<TValue>(((TextRef*)value)->Chars, ((TextRef*)value)->Length, lifetime);
        }

        return Unsafe.AsRef<TValue>(value);
    }

    /// <summary>The bytes of one value in a table of <typeparamref name="T"/> values, or of one unmanaged key.</summary>
    internal static int ValueSize<T>() => typeof(T) == typeof(ProtectedString) ? sizeof(TextRef) : Unsafe.SizeOf<T>();

    /// <summary>The home of a string key's hash code: its top bits (the hashes' best mixed), one shift instead of a modulo.</summary>
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
    private static T Text<T>(char* chars, int length, TableLifetime lifetime)
    {
        Debug.Assert(typeof(T) == typeof(ProtectedString));
        ProtectedString text = new(lifetime, chars, length);
        return Unsafe.As<ProtectedString, T>(ref text);
    }
}
