using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// The hash table behind <see cref="ProtectedDictionary{TKey, TValue}"/> and <see cref="ProtectedSet{T}"/>, laid out
/// in one pool allocation, after <c>FrozenHashTable</c>: a header, the bucket starts, then the entries grouped by bucket
/// (cached hash codes where kept, keys, values), then the UTF-16 text of string keys and values.
/// </summary>
/// <remarks>
/// <para><b>Lookup.</b> Hash the key, pick the bucket with Lemire's fast modulo by a prime bucket count, scan the
/// bucket's entries (few: the bucket count is chosen to minimise collisions). Primitive keys are compared directly
/// (their first candidate with one branch for hit or miss); others compare the cached hash code first. Everything a
/// lookup reads is in the pool, so once the pool is protected not even the table's shape can be altered.</para>
/// <para><b>Keys.</b> Unmanaged keys use <see cref="EqualityComparer{T}.Default"/> (so <c>NaN</c> finds <c>NaN</c>
/// and <c>-0.0</c> finds <c>0.0</c>, as in <see cref="Dictionary{TKey, TValue}"/>); the JIT specializes and inlines it
/// per key type. String keys are stored as <see cref="StringKey"/> entries (hash code, length, text address) and hashed by
/// <see cref="StringHash"/> (ordinal or ordinal-ignore-case, often over a slice of the key), and their length range
/// rejects many misses before any hashing.</para>
/// </remarks>
internal static unsafe class HashTable
{
    /// <summary>Rounds section offsets up to this, so every key and value type is naturally aligned.</summary>
    private const int SectionAlignment = 16;

    /// <summary>Finds the entry index of <paramref name="key"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int IndexOf<TKey>(TableHeader* table, TKey key)
    {
        if (typeof(TKey) == typeof(ProtectedString))
        {
            return IndexOfString(table, Unsafe.As<TKey, ProtectedString>(ref key).AsSpan());
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
    internal static int IndexOfString(TableHeader* table, ReadOnlySpan<char> key)
    {
        // Equal strings have equal lengths, under ordinal-ignore-case too (it maps char to char).
        if (unchecked((uint)(key.Length - table->MinLength) > (uint)(table->MaxLength - table->MinLength)))
        {
            return -1;
        }

        bool ignoreCase = table->IgnoreCase;
        int hash = StringHash.Compute(table, key);
        int* bucket = table->BucketStarts + FastMod(unchecked((uint)hash), (uint)table->BucketCount, table->FastModMultiplier);
        StringKey* keys = (StringKey*)table->Keys;
        int end = bucket[1];
        for (int i = bucket[0]; i < end; i++)
        {
            StringKey* candidate = keys + i;
            if (candidate->HashCode == hash && candidate->Length == key.Length)
            {
                ReadOnlySpan<char> text = new(candidate->Chars, candidate->Length);
                if (ignoreCase ? EqualsIgnoreCase(key, text) : key.SequenceEqual(text))
                {
                    return i;
                }
            }
        }

        return -1;
    }

    /// <summary>
    /// <see cref="StringComparison.OrdinalIgnoreCase"/> equality, with the vectorized ASCII comparison first: it is exact when
    /// it says equal, and when both strings are ASCII; only text beyond ASCII takes the runtime's general path.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool EqualsIgnoreCase(ReadOnlySpan<char> key, ReadOnlySpan<char> candidate) =>
        System.Text.Ascii.EqualsIgnoreCase(key, candidate) ||
        (!(System.Text.Ascii.IsValid(key) && System.Text.Ascii.IsValid(candidate)) && key.Equals(candidate, StringComparison.OrdinalIgnoreCase));

    /// <summary>The key of entry <paramref name="index"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TKey KeyAt<TKey>(TableHeader* table, int index)
    {
        if (typeof(TKey) == typeof(ProtectedString))
        {
            StringKey* entry = (StringKey*)table->Keys + index;
            ProtectedString key = new(entry->Chars, entry->Length);
            return Unsafe.As<ProtectedString, TKey>(ref key);
        }

        return Unsafe.Add(ref Unsafe.AsRef<TKey>(table->Keys), index);
    }

    /// <summary>The value of entry <paramref name="index"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ref readonly TValue ValueAt<TValue>(TableHeader* table, int index) => ref Unsafe.Add(ref Unsafe.AsRef<TValue>(table->Values), index);

    /// <summary>
    /// Lays out a table in one allocation of <paramref name="pool"/>. The keys are distinct (the caller checked, with
    /// the same equality), so nothing here throws after the allocation: a failed build leaves the pool unchanged.
    /// For string keys or values, <typeparamref name="TKey"/> or <typeparamref name="TValue"/> is
    /// <see cref="ProtectedString"/> and the text comes from <paramref name="stringKeys"/> or <paramref name="stringValues"/>.
    /// </summary>
    internal static TableHeader* Build<TKey, TValue>(
        ProtectablePool pool,
        int count,
        TKey[]? keys,
        string[]? stringKeys,
        bool ignoreCase,
        TValue[]? values,
        string[]? stringValues,
        bool hasValues)
    {
        Debug.Assert(typeof(TKey) != typeof(ProtectedString) || stringKeys is not null);
        Debug.Assert(typeof(TValue) != typeof(ProtectedString) || !hasValues || stringValues is not null);

        int[] hashes = new int[count];
        int minLength = count == 0 ? 1 : int.MaxValue, maxLength = 0;
        long chars = 0;
        foreach (string key in stringKeys ?? [])
        {
            minLength = Math.Min(minLength, key.Length);
            maxLength = Math.Max(maxLength, key.Length);
            chars += key.Length;
        }

        foreach (string value in stringValues ?? [])
        {
            chars += value.Length;
        }

        StringHashKind kind = default;
        int sliceStart = 0, sliceLength = 0;
        if (stringKeys is not null)
        {
            kind = StringHash.Choose(stringKeys, ignoreCase, minLength, out sliceStart, out sliceLength);
        }

        for (int i = 0; i < count; i++)
        {
            hashes[i] = stringKeys is not null
                ? StringHash.Of(kind, stringKeys[i], sliceStart, sliceLength)
                : EqualityComparer<TKey>.Default.GetHashCode(keys![i]!);
        }

        int bucketCount = ChooseBucketCount(hashes);
        int[] order = GroupByBucket(hashes, bucketCount, out int[] bucketStarts);

        // Keys of primitive types are compared directly (ComparesKeysOnly): no hash codes kept for them.
        bool keepsHashCodes = stringKeys is null && !ComparesKeysOnly<TKey>();
        long offset = Align(sizeof(TableHeader));
        long bucketsAt = offset;
        offset = Align(offset + ((long)(bucketCount + 1) * sizeof(int)));
        long hashesAt = offset;
        offset = Align(offset + (keepsHashCodes ? (long)count * sizeof(int) : 0));
        long keysAt = offset;

        // One spare key slot at the end, which IndexOf reads for an empty last bucket.
        offset = Align(offset + ((long)(count + 1) * (stringKeys is null ? Unsafe.SizeOf<TKey>() : sizeof(StringKey))));
        long valuesAt = offset;
        offset = Align(offset + (hasValues ? (long)count * Unsafe.SizeOf<TValue>() : 0));
        long charsAt = offset;
        long total = offset + (chars * sizeof(char));
        if (total > ProtectablePool.MaxAllocationSize)
        {
            throw ThrowHelper.CollectionTooLarge(pool.Name, count, total, ProtectablePool.MaxAllocationSize);
        }

        byte* start = (byte*)pool.Allocate((nuint)total);
        TableHeader* table = (TableHeader*)start;
        table->Count = count;
        table->BucketCount = bucketCount;
        table->FastModMultiplier = FastModMultiplier((uint)bucketCount);
        table->BucketStarts = (int*)(start + bucketsAt);
        table->HashCodes = keepsHashCodes ? (int*)(start + hashesAt) : null;
        table->Keys = start + keysAt;
        table->Values = hasValues ? start + valuesAt : null;
        table->MinLength = minLength;
        table->MaxLength = maxLength;
        table->IgnoreCase = ignoreCase;
        table->HashKind = kind;
        table->SliceStart = sliceStart;
        table->SliceLength = sliceLength;
        bucketStarts.CopyTo(new Span<int>(table->BucketStarts, bucketCount + 1));

        char* text = (char*)(start + charsAt);
        ref TKey keySlots = ref Unsafe.AsRef<TKey>(table->Keys);
        ref TValue valueSlots = ref Unsafe.AsRef<TValue>(table->Values);
        for (int i = 0; i < count; i++)
        {
            int source = order[i];
            if (stringKeys is null)
            {
                if (keepsHashCodes)
                {
                    table->HashCodes[i] = hashes[source];
                }

                Unsafe.Add(ref keySlots, i) = keys![source];
            }
            else
            {
                ProtectedString key = Copy<ProtectedString>(stringKeys[source], ref text);
                ((StringKey*)table->Keys)[i] = new StringKey { HashCode = hashes[source], Length = key.Length, Chars = (char*)key.DangerousAddress };
            }

            if (hasValues)
            {
                Unsafe.Add(ref valueSlots, i) = stringValues is null ? values![source] : Copy<TValue>(stringValues[source], ref text);
            }
        }

        if (stringKeys is null)
        {
            Unsafe.Add(ref keySlots, count) = default!;
        }
        else
        {
            ((StringKey*)table->Keys)[count] = default;
        }

        Debug.Assert(text == (char*)(start + total));
        return table;
    }

    /// <summary>Copies <paramref name="value"/> to <paramref name="text"/>, advances it, and returns the pool string as a <typeparamref name="T"/> (which is <see cref="ProtectedString"/>).</summary>
    private static T Copy<T>(string value, ref char* text)
    {
        Debug.Assert(typeof(T) == typeof(ProtectedString));
        value.CopyTo(new Span<char>(text, value.Length));
        ProtectedString stored = new(text, value.Length);
        text += value.Length;
        return Unsafe.As<ProtectedString, T>(ref stored);
    }

    /// <summary>
    /// A prime bucket count (so that the fast modulo spreads even sequential keys) of at least twice the number of distinct
    /// hash codes, so that most misses land in an empty bucket: the smallest one under which at most 5% of the hash codes
    /// share a bucket, or else the best one tried, up to 3 times the count (16 times for small tables). This is
    /// FrozenHashTable's search, with its limits.
    /// </summary>
    private static int ChooseBucketCount(int[] hashes)
    {
        if (hashes.Length == 0)
        {
            return 1;
        }

        HashSet<int> distinct = [.. hashes];
        int unique = distinct.Count;
        int acceptable = unique / 20;
        long max = Math.Min(int.MaxValue / 2, (long)unique * (unique >= 1000 ? 3 : 16));
        int best = 0, bestCollisions = int.MaxValue;
        bool[] used = new bool[max + 1];
        int tries = 0;
        for (int candidate = NextPrime(2 * unique); candidate <= max && tries < 64; candidate = NextPrime(candidate + 1 + (unique / 16)), tries++)
        {
            ulong multiplier = FastModMultiplier((uint)candidate);
            Array.Clear(used, 0, candidate);
            int collisions = 0;
            foreach (int hash in distinct)
            {
                ref bool slot = ref used[FastMod(unchecked((uint)hash), (uint)candidate, multiplier)];
                collisions += slot ? 1 : 0;
                slot = true;
            }

            if (collisions < bestCollisions)
            {
                (best, bestCollisions) = (candidate, collisions);
            }

            if (collisions <= acceptable)
            {
                break;
            }
        }

        return best == 0 ? NextPrime(2 * unique) : best;
    }

    /// <summary>
    /// Sorts the entries by bucket (a counting sort) and returns, per new position, the source index; bucket b holds
    /// the new positions <paramref name="bucketStarts"/>[b] up to, not including, <paramref name="bucketStarts"/>[b + 1].
    /// </summary>
    private static int[] GroupByBucket(int[] hashes, int bucketCount, out int[] bucketStarts)
    {
        ulong multiplier = FastModMultiplier((uint)bucketCount);
        int[] bucketOf = new int[hashes.Length];
        int[] starts = new int[bucketCount + 1];
        for (int i = 0; i < hashes.Length; i++)
        {
            bucketOf[i] = (int)FastMod(unchecked((uint)hashes[i]), (uint)bucketCount, multiplier);
            starts[bucketOf[i] + 1]++;
        }

        for (int b = 0; b < bucketCount; b++)
        {
            starts[b + 1] += starts[b];
        }

        bucketStarts = (int[])starts.Clone();
        int[] order = new int[hashes.Length];
        for (int i = 0; i < hashes.Length; i++)
        {
            order[starts[bucketOf[i]]++] = i;
        }

        return order;
    }

    private static int NextPrime(int min)
    {
        for (int n = Math.Max(min, 2) | 1; ; n += 2)
        {
            if (n == 3 || IsPrime(n))
            {
                return min <= 2 ? 2 : n;
            }
        }

        static bool IsPrime(int n)
        {
            for (int d = 3; (long)d * d <= n; d += 2)
            {
                if (n % d == 0)
                {
                    return false;
                }
            }

            return n > 1;
        }
    }

    private static long Align(long offset) => (offset + SectionAlignment - 1) & ~(long)(SectionAlignment - 1);

    /// <summary><c>value % divisor</c> without a division (Lemire; the runtime's <c>HashHelpers.FastMod</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint FastMod(uint value, uint divisor, ulong multiplier) =>
        unchecked((uint)(((((multiplier * value) >> 32) + 1) * divisor) >> 32));

    /// <summary>The multiplier for <see cref="FastMod"/> by <paramref name="divisor"/> (it wraps to 0 for 1, which still works).</summary>
    private static ulong FastModMultiplier(uint divisor) => unchecked((ulong.MaxValue / divisor) + 1);

    /// <summary>Primitive keys: comparing two keys costs no more than comparing their hash codes, so the scan compares keys only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool ComparesKeysOnly<T>() =>
        typeof(T) == typeof(int) || typeof(T) == typeof(uint) || typeof(T) == typeof(long) || typeof(T) == typeof(ulong) ||
        typeof(T) == typeof(short) || typeof(T) == typeof(ushort) || typeof(T) == typeof(byte) || typeof(T) == typeof(sbyte) ||
        typeof(T) == typeof(char) || typeof(T) == typeof(nint) || typeof(T) == typeof(nuint) || typeof(T) == typeof(bool) ||
        typeof(T) == typeof(double) || typeof(T) == typeof(float);
}

/// <summary>The table's header, first in its allocation. Read-only once the pool is protected.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct TableHeader
{
    internal int Count;
    internal int BucketCount;
    internal ulong FastModMultiplier;

    /// <summary>
    /// <see cref="BucketCount"/> + 1 entry indexes: bucket b holds entries <c>BucketStarts[b]</c> up to, not including,
    /// <c>BucketStarts[b + 1]</c>. Four bytes a bucket, half of a start-and-end pair, so that more of them stay in cache.
    /// </summary>
    internal int* BucketStarts;

    /// <summary>
    /// The hash code of each entry's key, in entry order; null for primitive keys (compared directly) and for string
    /// keys (which keep it in their <see cref="StringKey"/>).
    /// </summary>
    internal int* HashCodes;

    /// <summary>The keys, in entry order (grouped by bucket): <see cref="StringKey"/> entries for string keys.</summary>
    internal byte* Keys;

    /// <summary>The values, in entry order; null for a set.</summary>
    internal byte* Values;

    /// <summary>The shortest and longest string key (string keys only; 1 and 0 when empty).</summary>
    internal int MinLength;
    internal int MaxLength;

    /// <summary>String keys compare with ordinal-ignore-case.</summary>
    internal bool IgnoreCase;

    /// <summary>How string keys are hashed, and the slice hashed (see <see cref="StringHash"/>).</summary>
    internal StringHashKind HashKind;
    internal int SliceStart;
    internal int SliceLength;
}

/// <summary>A string key's entry: its hash code beside its text's address and length, so a probe touches one cache line before the text.</summary>
internal unsafe struct StringKey
{
    internal int HashCode;
    internal int Length;
    internal char* Chars;
}
