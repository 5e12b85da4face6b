using System.Buffers;
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Pmalloc;

/// <summary>
/// Lays out a <see cref="HashTable"/> in one allocation of a pool: hashes the keys, chooses the bucket count, groups the
/// entries by bucket, finds duplicate keys, and only then allocates and copies.
/// </summary>
/// <remarks>
/// <para><b>Crowding.</b> For string keys the build checks what it got: a bucket of more than <see cref="MaxBucketLength"/>
/// keys, or more than <see cref="MaxSharedHashCode"/> keys with one hash code, means the hash does not tell these keys
/// apart (keys equal in their slice, or keys crafted to collide), and the table is hashed again with the next kind of
/// <see cref="StringHashKind"/>, down to the runtime's randomized hash. With random keys neither limit is ever reached
/// (at most half the buckets are used, so a bucket of 13 has odds below 1 in 10^13).</para>
/// <para><b>Duplicates</b> have equal hash codes, so they are found by comparing keys with equal hash codes in each bucket:
/// no set of all the keys is built.</para>
/// <para><b>Failure.</b> Everything that can fail on bad input happens before the one allocation, so a failed build leaves
/// the pool unchanged.</para>
/// </remarks>
internal static unsafe class HashTableBuilder
{
    /// <summary>A bucket of string keys may hold at most this many keys; a longer one makes the build hash again.</summary>
    internal const int MaxBucketLength = 12;

    /// <summary>At most this many string keys may share one hash code (each costs a text comparison on every lookup of it).</summary>
    internal const int MaxSharedHashCode = 4;

    /// <summary>Rounds section offsets up to this, so every key and value type is naturally aligned.</summary>
    private const int SectionAlignment = 16;

    /// <summary>Tables of fewer keys may use up to 16 buckets per key (as FrozenDictionary does), so most misses find an empty bucket; larger ones up to 3.</summary>
    private const int SparseTableLimit = 2048;

    /// <summary>Buckets that hold more keys than this are checked for duplicates with a set rather than pair by pair.</summary>
    private const int PairwiseLimit = 64;

    /// <summary>
    /// Lays out a table in one allocation of <paramref name="pool"/>. For string keys or values, <typeparamref name="TKey"/>
    /// or <typeparamref name="TValue"/> is <see cref="ProtectedString"/> and the text comes from <paramref name="stringKeys"/>
    /// or <paramref name="stringValues"/> (no nulls: the caller checked). With <paramref name="checkDistinct"/>, two keys
    /// equal under the lookup's equality throw <see cref="ArgumentException"/> naming the key, before anything is allocated.
    /// </summary>
    internal static TableHeader* Build<TKey, TValue>(
        ProtectablePool pool,
        TKey[]? keys,
        string[]? stringKeys,
        bool ignoreCase,
        TValue[]? values,
        string[]? stringValues,
        bool hasValues,
        bool checkDistinct)
    {
        Debug.Assert(typeof(TKey) != typeof(ProtectedString) || stringKeys is not null);
        Debug.Assert(typeof(TValue) != typeof(ProtectedString) || !hasValues || stringValues is not null);

        int count = stringKeys?.Length ?? keys!.Length;

        // The scratch arrays come from the shared pool: a build of a million keys would otherwise put megabytes of
        // short-lived arrays on the large object heap (zeroed, then collected by full collections).
        int[] hashBuffer = ArrayPool<int>.Shared.Rent(count);
        Grouping groups = default;
        try
        {
            return BuildCore(pool, count, hashBuffer, ref groups, keys, stringKeys, ignoreCase, values, stringValues, hasValues, checkDistinct);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(hashBuffer);
            groups.Return();
        }
    }

    private static TableHeader* BuildCore<TKey, TValue>(
        ProtectablePool pool,
        int count,
        int[] hashBuffer,
        ref Grouping groups,
        TKey[]? keys,
        string[]? stringKeys,
        bool ignoreCase,
        TValue[]? values,
        string[]? stringValues,
        bool hasValues,
        bool checkDistinct)
    {
        Span<int> hashes = hashBuffer.AsSpan(0, count);
        StringHashKind kind = default;
        int sliceStart = 0, sliceLength = 0, minLength = 0, maxLength = 0;
        long chars = 0;
        if (stringKeys is not null)
        {
            if (count > 0)
            {
                minLength = int.MaxValue;
                foreach (string key in stringKeys)
                {
                    minLength = Math.Min(minLength, key.Length);
                    maxLength = Math.Max(maxLength, key.Length);
                    chars += key.Length;
                }
            }

            kind = StringHash.Choose(stringKeys, ignoreCase, minLength, out sliceStart, out sliceLength);
            while (true)
            {
                for (int i = 0; i < count; i++)
                {
                    hashes[i] = StringHash.Of(kind, stringKeys[i], sliceStart, sliceLength);
                }

                groups.Return();
                groups = Group(hashes, topBits: true);
                if (!IsCrowded(groups, hashes) || !StringHash.TryEscalate(kind, out kind))
                {
                    break;
                }

                sliceStart = sliceLength = 0;
            }
        }
        else
        {
            for (int i = 0; i < count; i++)
            {
                hashes[i] = EqualityComparer<TKey>.Default.GetHashCode(keys![i]!);
            }

            groups = Group(hashes, topBits: false);
        }

        if (checkDistinct)
        {
            ThrowIfDuplicate(groups, hashes, keys, stringKeys, ignoreCase, pool.Name);
        }

        foreach (string value in stringValues ?? [])
        {
            chars += value.Length;
        }

        // Keys of primitive types are compared directly (ComparesKeysOnly): no hash codes kept for them.
        bool keepsHashCodes = stringKeys is null && !HashTable.ComparesKeysOnly<TKey>();
        int bucketCount = groups.BucketCount;
        long offset = Align(sizeof(TableHeader));
        long bucketsAt = offset;
        offset = Align(offset + ((long)(bucketCount + 1) * sizeof(int)));
        long hashesAt = offset;
        offset = Align(offset + (keepsHashCodes ? (long)count * sizeof(int) : 0));
        long keysAt = offset;

        // One spare key slot at the end, which IndexOf reads for an empty last bucket.
        offset = Align(offset + ((long)(count + 1) * HashTable.SlotSize<TKey>()));
        long valuesAt = offset;
        offset = Align(offset + (hasValues ? (long)count * HashTable.SlotSize<TValue>() : 0));
        long charsAt = offset;
        long total = offset + (chars * sizeof(char));
        if (total > ProtectablePool.MaxAllocationSize)
        {
            throw ThrowHelper.CollectionTooLarge(pool.Name, count, total, ProtectablePool.MaxAllocationSize);
        }

        byte* start = (byte*)pool.Allocate((nuint)total);
        TableHeader* table = (TableHeader*)start;
        *table = new TableHeader
        {
            Count = count,
            BucketCount = bucketCount,
            FastModMultiplier = groups.Multiplier,
            BucketShift = groups.Shift,
            BucketStarts = (int*)(start + bucketsAt),
            HashCodes = keepsHashCodes ? (int*)(start + hashesAt) : null,
            Keys = start + keysAt,
            Values = hasValues ? start + valuesAt : null,
            MinLength = minLength,
            LengthRange = maxLength - minLength,
            IgnoreCase = ignoreCase,
            HashKind = kind,
            SliceStart = sliceStart,
            SliceLength = sliceLength,
        };
        groups.Starts.CopyTo(new Span<int>(table->BucketStarts, bucketCount + 1));

        char* text = (char*)(start + charsAt);
        ReadOnlySpan<int> order = groups.Order;
        if (stringKeys is not null)
        {
            StringKey* slots = (StringKey*)table->Keys;
            for (int i = 0; i < count; i++)
            {
                int source = order[i];
                slots[i] = new StringKey { HashCode = hashes[source], Length = stringKeys[source].Length, Chars = Copy(stringKeys[source], ref text) };
            }

            slots[count] = default;
        }
        else
        {
            ref TKey slots = ref Unsafe.AsRef<TKey>(table->Keys);
            for (int i = 0; i < count; i++)
            {
                int source = order[i];
                Unsafe.Add(ref slots, i) = keys![source];
                if (keepsHashCodes)
                {
                    table->HashCodes[i] = hashes[source];
                }
            }

            Unsafe.Add(ref slots, count) = default!;
        }

        if (stringValues is not null)
        {
            StringKey* slots = (StringKey*)table->Values;
            for (int i = 0; i < count; i++)
            {
                string value = stringValues[order[i]];
                slots[i] = new StringKey { Length = value.Length, Chars = Copy(value, ref text) };
            }
        }
        else if (hasValues)
        {
            ref TValue slots = ref Unsafe.AsRef<TValue>(table->Values);
            for (int i = 0; i < count; i++)
            {
                Unsafe.Add(ref slots, i) = values![order[i]];
            }
        }

        Debug.Assert(text == (char*)(start + total));
        return table;
    }

    /// <summary>
    /// The entries sorted by bucket: per new position, the source index (<see cref="Order"/>); bucket b holds positions
    /// <c>Starts[b]</c> up to <c>Starts[b + 1]</c>. Buckets are picked by <see cref="HashTable.FastMod"/> with
    /// <see cref="Multiplier"/> (a prime count), or by <see cref="HashTable.TopBits"/> with <see cref="Shift"/> (a power of
    /// two). Its arrays are rented: <see cref="Return"/> gives them back.
    /// </summary>
    private struct Grouping
    {
        internal int BucketCount;
        internal ulong Multiplier;
        internal int Shift;
        internal int LongestBucket;
        internal int Count;
        internal int[]? OrderBuffer;
        internal int[]? StartsBuffer;

        internal readonly ReadOnlySpan<int> Order => OrderBuffer.AsSpan(0, Count);

        internal readonly ReadOnlySpan<int> Starts => StartsBuffer.AsSpan(0, BucketCount + 1);

        internal void Return()
        {
            if (OrderBuffer is not null)
            {
                ArrayPool<int>.Shared.Return(OrderBuffer);
                ArrayPool<int>.Shared.Return(StartsBuffer!);
            }

            this = default;
        }
    }

    /// <summary>Chooses the bucket count and sorts the entries by bucket (a counting sort, stable: a bucket keeps the source order).</summary>
    private static Grouping Group(ReadOnlySpan<int> hashes, bool topBits)
    {
        int bucketCount = ChooseBucketCount(hashes, topBits);
        ulong multiplier = topBits ? 0 : HashTable.FastModMultiplier((uint)bucketCount);
        int shift = topBits ? 32 - BitOperations.Log2((uint)bucketCount) : 0;
        int[] startsBuffer = ArrayPool<int>.Shared.Rent(bucketCount + 1);
        int[] orderBuffer = ArrayPool<int>.Shared.Rent(hashes.Length);
        Span<int> starts = startsBuffer.AsSpan(0, bucketCount + 1);
        Span<int> order = orderBuffer.AsSpan(0, hashes.Length);
        starts.Clear();
        foreach (int hash in hashes)
        {
            starts[(int)BucketOf(hash, bucketCount, multiplier, shift, topBits) + 1]++;
        }

        int longest = 0;
        for (int b = 0; b < bucketCount; b++)
        {
            longest = Math.Max(longest, starts[b + 1]);
            starts[b + 1] += starts[b];
        }

        // Fill each bucket from its end, walking the source backwards, so that a bucket's positions follow the source
        // order. That moves each bucket's end to its start, one place up: shift them back down.
        for (int i = hashes.Length - 1; i >= 0; i--)
        {
            order[--starts[(int)BucketOf(hashes[i], bucketCount, multiplier, shift, topBits) + 1]] = i;
        }

        starts[1..].CopyTo(starts);
        starts[bucketCount] = hashes.Length;
        return new Grouping
        {
            BucketCount = bucketCount,
            Multiplier = multiplier,
            Shift = shift,
            LongestBucket = longest,
            Count = hashes.Length,
            OrderBuffer = orderBuffer,
            StartsBuffer = startsBuffer,
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint BucketOf(int hash, int bucketCount, ulong multiplier, int shift, bool topBits) =>
        topBits ? HashTable.TopBits(hash, shift) : HashTable.FastMod(unchecked((uint)hash), (uint)bucketCount, multiplier);

    /// <summary>Does any bucket hold too many keys, or too many keys with one hash code?</summary>
    private static bool IsCrowded(in Grouping groups, ReadOnlySpan<int> hashes)
    {
        if (groups.LongestBucket > MaxBucketLength)
        {
            return true;
        }

        if (groups.LongestBucket <= MaxSharedHashCode)
        {
            return false;
        }

        ReadOnlySpan<int> starts = groups.Starts, order = groups.Order;
        for (int b = 0; b < groups.BucketCount; b++)
        {
            int first = starts[b], end = starts[b + 1];
            for (int i = first; end - first > MaxSharedHashCode && i < end; i++)
            {
                int hash = hashes[order[i]], shared = 0;
                for (int j = first; j < end; j++)
                {
                    shared += hashes[order[j]] == hash ? 1 : 0;
                }

                if (shared > MaxSharedHashCode)
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Throws, naming the later of the two, if two keys are equal under the lookup's equality (they share a bucket and a hash code).</summary>
    private static void ThrowIfDuplicate<TKey>(in Grouping groups, ReadOnlySpan<int> hashes, TKey[]? keys, string[]? stringKeys, bool ignoreCase, string poolName)
    {
        ReadOnlySpan<int> starts = groups.Starts, order = groups.Order;
        for (int b = 0; b < groups.BucketCount; b++)
        {
            int first = starts[b], end = starts[b + 1];
            if (end - first > PairwiseLimit)
            {
                ThrowIfDuplicateInLongBucket(order.Slice(first, end - first), keys, stringKeys, ignoreCase, poolName);
                continue;
            }

            for (int i = first + 1; i < end; i++)
            {
                int later = order[i];
                for (int j = first; j < i; j++)
                {
                    int earlier = order[j];
                    if (hashes[earlier] == hashes[later] && (stringKeys is not null
                        ? (ignoreCase ? HashTable.EqualsIgnoreCase(stringKeys[earlier], stringKeys[later]) : stringKeys[earlier] == stringKeys[later])
                        : EqualityComparer<TKey>.Default.Equals(keys![earlier], keys[later])))
                    {
                        throw ThrowHelper.DuplicateKey(poolName, stringKeys?[later] ?? $"{keys![later]}");
                    }
                }
            }
        }
    }

    /// <summary>The duplicate check of a long bucket (keys whose hash codes agree too often, such as structs with a poor <c>GetHashCode</c>): a set.</summary>
    private static void ThrowIfDuplicateInLongBucket<TKey>(ReadOnlySpan<int> positions, TKey[]? keys, string[]? stringKeys, bool ignoreCase, string poolName)
    {
        if (stringKeys is not null)
        {
            HashSet<string> seen = new(positions.Length, ignoreCase ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
            foreach (int i in positions)
            {
                if (!seen.Add(stringKeys[i]))
                {
                    throw ThrowHelper.DuplicateKey(poolName, stringKeys[i]);
                }
            }

            return;
        }

        HashSet<TKey> unique = new(positions.Length);
        foreach (int i in positions)
        {
            if (!unique.Add(keys![i]))
            {
                throw ThrowHelper.DuplicateKey(poolName, $"{keys[i]}");
            }
        }
    }

    /// <summary>
    /// A bucket count of at least twice the number of keys, so that most misses land in an empty bucket: the first one tried
    /// under which at most 5% of the keys share a bucket, or else the best one tried, up to 3 times the count (16 times for
    /// small tables). FrozenHashTable's search, with its limits. Primes (so that the fast modulo spreads even sequential
    /// keys) grow by a fifth; powers of two (for well-mixed hashes) double, rounding the limits up.
    /// </summary>
    private static int ChooseBucketCount(ReadOnlySpan<int> hashes, bool powerOfTwo)
    {
        int n = hashes.Length;
        if (n == 0)
        {
            return powerOfTwo ? 2 : 1;
        }

        long max = Math.Min(1 << 29, (long)n * (n < SparseTableLimit ? 16 : 3));
        int first = powerOfTwo ? (int)BitOperations.RoundUpToPowerOf2((uint)(2 * n)) : NextPrime(2 * n);
        max = powerOfTwo ? (long)BitOperations.RoundUpToPowerOf2((ulong)max) : max;
        max = Math.Max(max, first);
        int acceptable = n / 20;
        ulong[] seen = ArrayPool<ulong>.Shared.Rent((int)(max >> 6) + 1);
        int best = first, bestCollisions = int.MaxValue;
        for (int candidate = first; candidate <= max; candidate = powerOfTwo ? 2 * candidate : NextPrime(candidate + 1 + (candidate / 5)))
        {
            ulong multiplier = powerOfTwo ? 0 : HashTable.FastModMultiplier((uint)candidate);
            int shift = powerOfTwo ? 32 - BitOperations.Log2((uint)candidate) : 0;
            Array.Clear(seen, 0, (candidate >> 6) + 1);
            int collisions = 0;
            foreach (int hash in hashes)
            {
                uint bucket = BucketOf(hash, candidate, multiplier, shift, powerOfTwo);
                ref ulong word = ref seen[bucket >> 6];
                ulong bit = 1UL << (int)(bucket & 63);
                if ((word & bit) == 0)
                {
                    word |= bit;
                }
                else if (++collisions >= bestCollisions)
                {
                    break;
                }
            }

            if (collisions < bestCollisions)
            {
                (best, bestCollisions) = (candidate, collisions);
                if (collisions <= acceptable)
                {
                    break;
                }
            }
        }

        ArrayPool<ulong>.Shared.Return(seen);
        return best;
    }

    /// <summary>Copies <paramref name="value"/> to <paramref name="text"/>, advances it, and returns where the copy starts.</summary>
    private static char* Copy(string value, ref char* text)
    {
        char* at = text;
        value.CopyTo(new Span<char>(at, value.Length));
        text += value.Length;
        return at;
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
}
