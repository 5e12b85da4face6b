using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>A hash table's header, first in its allocation (see <see cref="HashTable"/>). Read-only once the pool is protected.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct TableHeader
{
    internal int Count;

    /// <summary>A prime for unmanaged keys (picked by <see cref="HashTable.FastMod"/>), a power of two for string keys (picked by <see cref="BucketShift"/>).</summary>
    internal int BucketCount;
    internal ulong FastModMultiplier;

    /// <summary>String keys: their bucket is the hash code's top bits, <c>(uint)hash &gt;&gt; BucketShift</c> (as a 64-bit shift, so 32 gives bucket 0).</summary>
    internal int BucketShift;

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

    /// <summary>The keys, in entry order (grouped by bucket), with one spare slot at the end: <see cref="StringKey"/> entries for string keys.</summary>
    internal byte* Keys;

    /// <summary>The values, in entry order: <see cref="StringKey"/> entries (hash code 0) for string values; null for a set.</summary>
    internal byte* Values;

    /// <summary>The shortest string key, and how much longer the longest is (string keys only; 0 and 0 when empty, whose one bucket is empty).</summary>
    internal int MinLength;
    internal int LengthRange;

    /// <summary>String keys compare with ordinal-ignore-case.</summary>
    internal bool IgnoreCase;

    /// <summary>How string keys are hashed, and the slice hashed (see <see cref="StringHash"/>).</summary>
    internal StringHashKind HashKind;
    internal int SliceStart;
    internal int SliceLength;
}
