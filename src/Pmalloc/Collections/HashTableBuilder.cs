using System.Buffers;
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Pmalloc;

/// <summary>
/// Lays out a <see cref="HashTable"/> in one allocation of a pool: hashes the keys, groups them by bucket (unmanaged keys)
/// or by home slot (string keys), finds duplicate keys, and only then allocates and copies.
/// </summary>
/// <remarks>
/// <para><b>Crowding.</b> For string keys the build checks what it got: more than <see cref="MaxSharedHashCode"/> keys with
/// one hash code, more than <see cref="MaxBucketLength"/> keys with one home, or a key placed more than
/// <see cref="MaxDisplacement"/> slots past its home, means the hash does not tell these keys apart (keys equal in their
/// slice, or keys crafted to collide), and the table is hashed again with the next kind of <see cref="StringHashKind"/>,
/// down to the runtime's randomized hash. Shared hash codes come from keys equal in their slice (a million file paths have
/// groups of 5 under their best 4-character slice, hence a limit of 8 rather than FrozenDictionary's tolerance of any);
/// the other two limits are never reached by hash codes that tell the keys apart: at most half the homes are used, so a
/// home of 13 keys has odds below 1 in 10^13, and the longest displacement of a million keys is about a dozen.</para>
/// <para><b>Duplicates</b> have equal hash codes, so they are found by comparing keys with equal hash codes in each group:
/// no set of all the keys is built.</para>
/// <para><b>Failure.</b> Everything that can fail on bad input happens before the one allocation, so a failed build leaves
/// the pool unchanged.</para>
/// </remarks>
internal static unsafe class HashTableBuilder
{
    /// <summary>At most this many string keys may share one home; more make the build hash again.</summary>
    internal const int MaxBucketLength = 12;

    /// <summary>At most this many string keys may share one hash code (each costs a text comparison on every lookup of it).</summary>
    internal const int MaxSharedHashCode = 8;

    /// <summary>No string key may be placed further than this past its home (a lookup walks at most that far).</summary>
    internal const int MaxDisplacement = 32;

    /// <summary>Rounds section offsets up to this, so every key and value type is naturally aligned.</summary>
    private const int SectionAlignment = 16;

    /// <summary>A table may use up to this many buckets per unmanaged key.</summary>
    /// <remarks>
    /// FrozenHashTable allows 16 for small tables, so that most misses find an empty bucket; here every page of a table is
    /// a fresh page of the pool, written (a page fault) and then made read-only by <see cref="ProtectablePool.Protect"/>,
    /// which costs more than the lookups it would save: a small table is in the caches anyway.
    /// </remarks>
    private const int MaxBucketsPerKey = 3;

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
        int sliceStart = 0, sliceLength = 0, minLength = 0, maxLength = 0, slotCount = 0;
        long recordBytes = 0, valueChars = 0;
        if (stringKeys is not null)
        {
            if (count > 0)
            {
                minLength = int.MaxValue;
                foreach (string key in stringKeys)
                {
                    minLength = Math.Min(minLength, key.Length);
                    maxLength = Math.Max(maxLength, key.Length);
                    recordBytes += StringRecord.Size(key.Length, hasValues ? HashTable.ValueSize<TValue>() : 0);
                }
            }

            kind = StringHash.Choose(stringKeys, ignoreCase, minLength, out sliceStart, out sliceLength);
            int homes = HomeCount(count);
            while (true)
            {
                for (int i = 0; i < count; i++)
                {
                    hashes[i] = StringHash.Of(kind, stringKeys[i], sliceStart, sliceLength);
                }

                groups.Return();
                groups = Group(hashes, homes, topBits: true);
                slotCount = Place(groups, out int displacement);
                if ((displacement <= MaxDisplacement && !IsCrowded(groups, hashes)) || !StringHash.TryEscalate(kind, out kind))
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

            groups = Group(hashes, ChooseBucketCount(hashes), topBits: false);
        }

        if (checkDistinct)
        {
            ThrowIfDuplicate(groups, hashes, keys, stringKeys, ignoreCase, pool.Name);
        }

        foreach (string value in stringValues ?? [])
        {
            valueChars += value.Length;
        }

        // Unmanaged keys: bucket starts, cached hash codes (not for primitive keys, compared directly), keys with one spare
        // slot at the end (IndexOf reads it for an empty last bucket), values. String keys: the slots, where each entry's
        // record is, and the records (the sentinel record first), which hold the values. Then the text of string values.
        bool keepsHashCodes = stringKeys is null && !HashTable.ComparesKeysOnly<TKey>();
        int bucketCount = groups.BucketCount;
        long offset = Align(sizeof(TableHeader));
        long bucketsAt = offset, hashesAt = offset, keysAt = offset, recordOfAt = offset;
        if (stringKeys is null)
        {
            offset = Align(offset + ((long)(bucketCount + 1) * sizeof(int)));
            hashesAt = offset;
            offset = Align(offset + (keepsHashCodes ? (long)count * sizeof(int) : 0));
            keysAt = offset;
            offset = Align(offset + ((long)(count + 1) * Unsafe.SizeOf<TKey>()));
        }
        else
        {
            // Three spare slots after the last, empty one: lookups read four slots at a time.
            offset = Align(offset + ((long)(slotCount + 3) * sizeof(StringSlot)));
            recordOfAt = offset;
            offset = Align(offset + ((long)count * sizeof(int)));
        }

        long valuesAt = offset;
        offset = Align(offset + (hasValues && stringKeys is null ? (long)count * HashTable.ValueSize<TValue>() : 0));
        long recordsAt = offset;
        offset += stringKeys is null ? 0 : sizeof(StringRecord) + recordBytes;
        long charsAt = offset;
        long total = offset + (valueChars * sizeof(char));
        if (total > ProtectablePool.MaxAllocationSize)
        {
            throw ThrowHelper.CollectionTooLarge(pool.Name, count, total, ProtectablePool.MaxAllocationSize);
        }

        // The pool's memory comes zeroed: empty slots (hash code 0, record 0) need no writing.
        byte* start = (byte*)pool.Allocate((nuint)total);
        TableHeader* table = (TableHeader*)start;
        *table = new TableHeader
        {
            Count = count,
            BucketCount = bucketCount,
            FastModMultiplier = groups.Multiplier,
            BucketShift = groups.Shift,
            BucketStarts = stringKeys is null ? (int*)(start + bucketsAt) : null,
            HashCodes = keepsHashCodes ? (int*)(start + hashesAt) : null,
            Keys = start + keysAt,
            Records = stringKeys is null ? null : start + recordsAt,
            RecordOf = stringKeys is null ? null : (int*)(start + recordOfAt),
            Values = hasValues && stringKeys is null ? start + valuesAt : null,
            MinLength = minLength,
            LengthRange = maxLength - minLength,
            IgnoreCase = ignoreCase,
            HashKind = kind,
            SliceStart = sliceStart,
            SliceLength = sliceLength,
        };

        ReadOnlySpan<int> order = groups.Order;
        char* text = (char*)(start + charsAt);
        if (stringKeys is not null)
        {
            WriteStringKeys(table, groups, hashes, stringKeys, values, stringValues, hasValues, ref text);
        }
        else
        {
            groups.Starts.CopyTo(new Span<int>(table->BucketStarts, bucketCount + 1));
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
            if (stringValues is not null)
            {
                TextRef* refs = (TextRef*)table->Values;
                for (int i = 0; i < count; i++)
                {
                    refs[i] = Copy(stringValues[order[i]], ref text);
                }
            }
            else if (hasValues)
            {
                ref TValue slotsOfValues = ref Unsafe.AsRef<TValue>(table->Values);
                for (int i = 0; i < count; i++)
                {
                    Unsafe.Add(ref slotsOfValues, i) = values![order[i]];
                }
            }
        }

        Debug.Assert(text == (char*)(start + total));
        return table;
    }

    /// <summary>The homes of a table of <paramref name="count"/> string keys: a power of two at least twice the count, so that most misses stop at their first slot.</summary>
    private static int HomeCount(int count) => (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(2, 2 * count));

    /// <summary>
    /// Where <see cref="WriteStringKeys"/> will place the string keys of <paramref name="groups"/> (grouped by home): in order
    /// of home, each at its home or just after the keys placed before it. Returns how many slots that takes, the empty slot
    /// that ends the last run included, and the longest displacement.
    /// </summary>
    private static int Place(in Grouping groups, out int displacement)
    {
        ReadOnlySpan<int> starts = groups.Starts;
        int position = 0, longest = 0;
        for (int home = 0; home < groups.BucketCount; home++)
        {
            int keys = starts[home + 1] - starts[home];
            if (keys > 0)
            {
                position = Math.Max(position, home) + keys;
                longest = Math.Max(longest, position - 1 - home);
            }
        }

        displacement = longest;
        return Math.Max(position, groups.BucketCount) + 1;
    }

    /// <summary>
    /// Writes the slots, the records (with the values) and <see cref="TableHeader.RecordOf"/> of the string keys, placed as
    /// <see cref="Place"/> counted: entry i is the i-th key placed, and its record follows the one before it. String values
    /// are copied to <paramref name="text"/>.
    /// </summary>
    private static void WriteStringKeys<TValue>(
        TableHeader* table, in Grouping groups, ReadOnlySpan<int> hashes, string[] keys, TValue[]? values, string[]? stringValues, bool hasValues, ref char* text)
    {
        ReadOnlySpan<int> starts = groups.Starts, order = groups.Order;
        StringSlot* slots = (StringSlot*)table->Keys;
        int valueSize = hasValues ? HashTable.ValueSize<TValue>() : 0;
        *(StringRecord*)table->Records = new StringRecord { Length = -1, Index = -1 };
        long record = 1; // in 8-byte units; 0 is the sentinel record of empty slots
        int position = 0;
        for (int home = 0; home < groups.BucketCount; home++)
        {
            for (int i = starts[home]; i < starts[home + 1]; i++)
            {
                int source = order[i];
                position = Math.Max(position, home);
                string key = keys[source];
                slots[position++] = new StringSlot { HashCode = hashes[source], Record = (int)record };
                table->RecordOf[i] = (int)record;
                StringRecord* at = (StringRecord*)(table->Records + (record << 3));
                *at = new StringRecord { Length = key.Length, Index = i };
                key.CopyTo(new Span<char>(StringRecord.Chars(at), key.Length));
                if (stringValues is not null)
                {
                    *(TextRef*)StringRecord.Value(at) = Copy(stringValues[source], ref text);
                }
                else if (hasValues)
                {
                    Unsafe.AsRef<TValue>(StringRecord.Value(at)) = values![source];
                }

                record += StringRecord.Size(key.Length, valueSize) >> 3;
            }
        }
    }

    /// <summary>Copies <paramref name="value"/> to <paramref name="text"/>, advances it, and returns where the copy is.</summary>
    private static TextRef Copy(string value, ref char* text)
    {
        TextRef copy = new() { Chars = text, Length = value.Length };
        value.CopyTo(new Span<char>(text, value.Length));
        text += value.Length;
        return copy;
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

    /// <summary>Sorts the entries into <paramref name="bucketCount"/> buckets (a counting sort, stable: a bucket keeps the source order).</summary>
    private static Grouping Group(ReadOnlySpan<int> hashes, int bucketCount, bool topBits)
    {
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
    /// A prime bucket count (so that the fast modulo spreads even sequential keys) of at least twice the number of keys, so
    /// that most misses land in an empty bucket: the first one tried under which at most 5% of the keys share a bucket, or
    /// else the best one tried, up to <see cref="MaxBucketsPerKey"/> times the count, growing by a fifth. FrozenHashTable's
    /// search, with its limit for large tables.
    /// </summary>
    private static int ChooseBucketCount(ReadOnlySpan<int> hashes)
    {
        int n = hashes.Length;
        if (n == 0)
        {
            return 1;
        }

        long max = Math.Min(1 << 29, (long)n * MaxBucketsPerKey);
        int first = NextPrime(2 * n);
        int acceptable = n / 20;
        ulong[] seen = ArrayPool<ulong>.Shared.Rent((int)(Math.Max(max, first) >> 6) + 1);
        int best = first, bestCollisions = int.MaxValue;
        for (int candidate = first; candidate <= max; candidate = NextPrime(candidate + 1 + (candidate / 5)))
        {
            ulong multiplier = HashTable.FastModMultiplier((uint)candidate);
            Array.Clear(seen, 0, (candidate >> 6) + 1);
            int collisions = 0;
            foreach (int hash in hashes)
            {
                uint bucket = HashTable.FastMod(unchecked((uint)hash), (uint)candidate, multiplier);
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
