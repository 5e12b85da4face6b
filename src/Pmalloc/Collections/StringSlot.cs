namespace Pmalloc;

/// <summary>
/// A string key's slot in a table's ordered linear-probing area (see <see cref="HashTable"/>): its hash code, and where its
/// <see cref="StringRecord"/> is. Eight bytes, so that a cache line holds eight slots and a probe reads one.
/// </summary>
internal struct StringSlot
{
    /// <summary>The key's hash code under the table's <see cref="StringHashKind"/>; 0 in an empty slot.</summary>
    internal int HashCode;

    /// <summary>
    /// Where the key's record starts, in 8-byte units from the table's record area; 0 in an empty slot, which is where the
    /// sentinel record lies (length -1, so that an empty slot whose hash code happens to match never matches a key).
    /// </summary>
    internal int Record;
}
