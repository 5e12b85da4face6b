using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>A hash table's header, first in its allocation (see <see cref="HashTable"/>). Read-only once the pool is protected.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct TableHeader
{
    internal int Count;

    /// <summary>Unmanaged keys: the number of buckets, a prime (picked by <see cref="HashTable.FastMod"/>). String keys: the number of homes, a power of two (picked by <see cref="BucketShift"/>).</summary>
    internal int BucketCount;
    internal ulong FastModMultiplier;

    /// <summary>String keys: a key's home slot is its hash code's top bits, <c>(uint)hash &gt;&gt; BucketShift</c> (as a 64-bit shift, so 32 gives home 0).</summary>
    internal int BucketShift;

    /// <summary>
    /// Unmanaged keys: <see cref="BucketCount"/> + 1 entry indexes: bucket b holds entries <c>BucketStarts[b]</c> up to, not
    /// including, <c>BucketStarts[b + 1]</c>. Four bytes a bucket, half of a start-and-end pair, so that more of them stay in
    /// cache. Null for string keys.
    /// </summary>
    internal int* BucketStarts;

    /// <summary>The hash code of each entry's key, in entry order; null for primitive keys (compared directly) and for string keys.</summary>
    internal int* HashCodes;

    /// <summary>
    /// Unmanaged keys: the keys, in entry order (grouped by bucket), with one spare slot at the end. String keys: the
    /// <see cref="StringSlot"/>s, <see cref="BucketCount"/> homes, the keys placed past the last home, and an empty slot.
    /// </summary>
    internal byte* Keys;

    /// <summary>String keys: the <see cref="StringRecord"/>s, in entry order, after the sentinel record of empty slots.</summary>
    internal byte* Records;

    /// <summary>String keys: where each entry's record starts, in 8-byte units from <see cref="Records"/>, in entry order.</summary>
    internal int* RecordOf;

    /// <summary>The values, in entry order: <see cref="TextRef"/> entries for string values; null for a set.</summary>
    internal byte* Values;

    /// <summary>The shortest string key, and how much longer the longest is (string keys only; 0 and 0 when empty, whose slots are empty).</summary>
    internal int MinLength;
    internal int LengthRange;

    /// <summary>String keys compare with ordinal-ignore-case.</summary>
    internal bool IgnoreCase;

    /// <summary>How string keys are hashed, and the slice hashed (see <see cref="StringHash"/>).</summary>
    internal StringHashKind HashKind;
    internal int SliceStart;
    internal int SliceLength;
}
