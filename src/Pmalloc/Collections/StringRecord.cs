using System.Runtime.CompilerServices;

namespace Pmalloc;

/// <summary>
/// A string key's record in a table's record area (see <see cref="HashTable"/>): its length and its entry index, its UTF-16
/// text, then its value (8-byte aligned; a <see cref="TextRef"/> for a string value; nothing in a set), so that a hit reads
/// one place for all of them. Records start at multiples of 8 bytes.
/// </summary>
internal unsafe struct StringRecord
{
    /// <summary>The key's length in UTF-16 code units; -1 for the sentinel record of empty slots.</summary>
    internal int Length;

    /// <summary>The key's entry index: its place in enumeration order.</summary>
    internal int Index;

    /// <summary>The key's text, right after the length and index.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static char* Chars(StringRecord* record) => (char*)(record + 1);

    /// <summary>The value, at the first multiple of 8 after the text.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static byte* Value(StringRecord* record) => (byte*)record + ValueOffset(record->Length);

    /// <summary>Where the value of a key of <paramref name="length"/> code units starts in its record.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static nint ValueOffset(int length) => (sizeof(StringRecord) + (2 * (nint)length) + 7) & ~(nint)7;

    /// <summary>The size of a record of a key of <paramref name="length"/> code units and a value of <paramref name="valueSize"/> bytes, a multiple of 8.</summary>
    internal static long Size(int length, int valueSize) => (ValueOffset(length) + valueSize + 7) & ~7L;
}
