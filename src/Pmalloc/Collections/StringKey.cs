namespace Pmalloc;

/// <summary>
/// A string's entry in a table: the address and length of its UTF-16 text (later in the same allocation) and, for a key,
/// its hash code, first, so that a probe compares the hash code and the length as one 8-byte value before it reads any text.
/// </summary>
internal unsafe struct StringKey
{
    /// <summary>The key's hash code under the table's <see cref="StringHashKind"/>; 0 for a value.</summary>
    internal int HashCode;
    internal int Length;
    internal char* Chars;

    /// <summary>The hash code and the length as one number, as the first 8 bytes of an entry read them.</summary>
    internal static long Tag(int hashCode, int length) =>
        unchecked(BitConverter.IsLittleEndian ? (uint)hashCode | ((long)length << 32) : ((long)hashCode << 32) | (uint)length);
}
