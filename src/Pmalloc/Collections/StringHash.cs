using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>How a table of string keys hashes them; chosen at build time from the keys, stored in the table.</summary>
internal enum StringHashKind
{
    /// <summary>Every code unit, ordinal.</summary>
    Ordinal,

    /// <summary>Up to eight code units at a fixed place (from the start or the end) and the length, ordinal.</summary>
    OrdinalSlice,

    /// <summary>Every code unit, ASCII letters folded to upper case (all keys are ASCII).</summary>
    IgnoreCaseAscii,

    /// <summary>A slice, ASCII letters folded (all keys are ASCII).</summary>
    IgnoreCaseAsciiSlice,

    /// <summary>The runtime's ordinal-ignore-case hash, for keys beyond ASCII.</summary>
    IgnoreCase,
}

/// <summary>
/// The hash codes of string keys in protected collections. They need not be randomized per process (a table is
/// built and read in one process, from keys its owner chose), only fast and well spread. As FrozenDictionary does,
/// the build looks for a slice of at most four, else eight, code units (from the start or from the end of the key) that
/// tells nearly all keys apart, and then hashes only that slice and the length: one or two 8-byte reads per lookup.
/// </summary>
/// <remarks>
/// Ignore-case over all-ASCII keys folds ASCII letters to upper case and every other character to one class, except
/// ı (U+0131) and ſ (U+017F), the only non-ASCII characters whose upper case is an ASCII letter: so two strings equal
/// under <see cref="StringComparison.OrdinalIgnoreCase"/> always hash alike, which a test checks against the runtime
/// for every UTF-16 code unit.
/// </remarks>
internal static class StringHash
{
    private const ulong Multiplier = 0x9E3779B97F4A7C15; // 2^64 / golden ratio
    private const ulong LengthMultiplier = 0xC2B2AE3D27D4EB4F;
    private const ulong Lanes = 0x0001_0001_0001_0001;
    private const ulong NonAsciiMask = 0xFF80_FF80_FF80_FF80;

    /// <summary>Slices are tried at this many places from each end of the keys.</summary>
    private const int MaxSlicePlaces = 16;

    /// <summary>The hash of <paramref name="key"/> in <paramref name="table"/>; the key's length is within the table's range.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe int Compute(TableHeader* table, ReadOnlySpan<char> key) => table->HashKind switch
    {
        StringHashKind.OrdinalSlice => Slice(key, table->SliceStart, table->SliceLength, ignoreCase: false),
        StringHashKind.Ordinal => Ordinal(key),
        StringHashKind.IgnoreCaseAsciiSlice => Slice(key, table->SliceStart, table->SliceLength, ignoreCase: true),
        StringHashKind.IgnoreCaseAscii => OrdinalIgnoreCaseAscii(key),
        _ => string.GetHashCode(key, StringComparison.OrdinalIgnoreCase),
    };

    /// <summary>Chooses the hash for <paramref name="keys"/> (distinct under the comparer), and returns the slice if one was chosen.</summary>
    internal static StringHashKind Choose(string[] keys, bool ignoreCase, int minLength, out int sliceStart, out int sliceLength)
    {
        sliceStart = sliceLength = 0;
        if (ignoreCase && !keys.All(k => System.Text.Ascii.IsValid(k)))
        {
            return StringHashKind.IgnoreCase;
        }

        StringHashKind full = ignoreCase ? StringHashKind.IgnoreCaseAscii : StringHashKind.Ordinal;
        if (keys.Length < 2 || minLength == 0)
        {
            return full;
        }

        // The place whose slice (with the length) gives the most distinct hash codes: four code units (one read) if that
        // tells nearly all keys apart, else eight (two reads); good enough if at most 1 key in 16 shares a hash code.
        HashSet<int> distinct = new(keys.Length);
        int enough = keys.Length - (keys.Length / 16);
        foreach (int length in (int[])[Math.Min(4, minLength), Math.Min(8, minLength)])
        {
            int best = 0, bestStart = 0;
            int places = Math.Min(minLength - length + 1, MaxSlicePlaces);
            for (int place = 0; place < 2 * places && best < keys.Length; place++)
            {
                // Even places count from the start, odd ones from the end (a negative start).
                int start = place % 2 == 0 ? place / 2 : -(place / 2) - length;
                distinct.Clear();
                foreach (string key in keys)
                {
                    distinct.Add(Slice(key, start, length, ignoreCase));
                }

                if (distinct.Count > best)
                {
                    (best, bestStart) = (distinct.Count, start);
                }
            }

            if (best >= enough)
            {
                (sliceStart, sliceLength) = (bestStart, length);
                return ignoreCase ? StringHashKind.IgnoreCaseAsciiSlice : StringHashKind.OrdinalSlice;
            }

            if (length == minLength)
            {
                break;
            }
        }

        return full;
    }

    /// <summary>The hash of a key under a chosen kind (for the build).</summary>
    internal static int Of(StringHashKind kind, string key, int sliceStart, int sliceLength) => kind switch
    {
        StringHashKind.OrdinalSlice or StringHashKind.IgnoreCaseAsciiSlice => Slice(key, sliceStart, sliceLength, kind == StringHashKind.IgnoreCaseAsciiSlice),
        StringHashKind.Ordinal => Ordinal(key),
        StringHashKind.IgnoreCaseAscii => OrdinalIgnoreCaseAscii(key),
        _ => string.GetHashCode(key, StringComparison.OrdinalIgnoreCase),
    };

    /// <summary>An ordinal hash of every code unit: four per step, multiply and rotate, folded to 32 bits.</summary>
    internal static int Ordinal(ReadOnlySpan<char> text)
    {
        ref byte bytes = ref Unsafe.As<char, byte>(ref MemoryMarshal.GetReference(text));
        int length = text.Length;
        ulong hash = unchecked((ulong)length * LengthMultiplier);
        int i = 0;
        for (; i <= length - 4; i += 4)
        {
            hash = Step(hash, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref bytes, i * 2)));
        }

        if (i < length)
        {
            hash = Step(hash, ReadSlice(text, i, length - i));
        }

        return Finish(hash);
    }

    /// <summary>A hash of every code unit under ASCII case folding (see the class remarks for the rest).</summary>
    internal static int OrdinalIgnoreCaseAscii(ReadOnlySpan<char> text)
    {
        ref byte bytes = ref Unsafe.As<char, byte>(ref MemoryMarshal.GetReference(text));
        int length = text.Length;
        ulong hash = unchecked((ulong)length * LengthMultiplier);
        int i = 0;
        for (; i <= length - 4; i += 4)
        {
            hash = Step(hash, Fold(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref bytes, i * 2))));
        }

        if (i < length)
        {
            hash = Step(hash, Fold(ReadSlice(text, i, length - i)));
        }

        return Finish(hash);
    }

    /// <summary>The hash of <paramref name="length"/> (1 to 8) code units at <paramref name="start"/> (from the end when negative), and of the text's length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Slice(ReadOnlySpan<char> text, int start, int length, bool ignoreCase)
    {
        int at = start >= 0 ? start : text.Length + start;
        ulong first = ReadSlice(text, at, Math.Min(length, 4));
        ulong hash = (ignoreCase ? Fold(first) : first) ^ unchecked((ulong)text.Length * LengthMultiplier);
        if (length > 4)
        {
            ulong second = ReadSlice(text, at + 4, length - 4);
            hash = Step(hash, ignoreCase ? Fold(second) : second);
        }

        return Finish(hash);
    }

    /// <summary>Up to four code units at <paramref name="start"/> as one number.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ReadSlice(ReadOnlySpan<char> text, int start, int length)
    {
        ref byte at = ref Unsafe.As<char, byte>(ref Unsafe.Add(ref MemoryMarshal.GetReference(text), start));
        return length switch
        {
            4 => Unsafe.ReadUnaligned<ulong>(ref at),
            3 => Unsafe.ReadUnaligned<uint>(ref at) | ((ulong)Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref at, 4)) << 32),
            2 => Unsafe.ReadUnaligned<uint>(ref at),
            _ => Unsafe.ReadUnaligned<ushort>(ref at),
        };
    }

    /// <summary>Folds four packed UTF-16 code units: a-z to A-Z, ı to I, ſ to S, any other non-ASCII to 0xFFFF.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Fold(ulong units)
    {
        if ((units & NonAsciiMask) != 0)
        {
            return FoldNonAscii(units);
        }

        // Per 16-bit lane: the 0x80 bit is set where 'a' <= c <= 'z' (no lane overflows: c < 0x80); it becomes the 0x20 case bit.
        ulong lower = unchecked(((units + ((0x80 - 'a') * Lanes)) ^ (units + ((0x80 - 'z' - 1) * Lanes))) & (0x80 * Lanes));
        return units ^ (lower >> 2);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong FoldNonAscii(ulong units)
    {
        ulong folded = 0;
        for (int shift = 0; shift < 64; shift += 16)
        {
            ulong c = (units >> shift) & 0xFFFF;
            c = c switch
            {
                >= 'a' and <= 'z' => c - 0x20,
                < 0x80 => c,
                '\u0131' => 'I',
                '\u017F' => 'S',
                _ => 0xFFFF,
            };
            folded |= c << shift;
        }

        return folded;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Step(ulong hash, ulong units) => BitOperations.RotateLeft(unchecked((hash ^ units) * Multiplier), 29);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Finish(ulong hash)
    {
        hash = unchecked(hash * Multiplier);
        return unchecked((int)(hash >> 32) ^ (int)hash);
    }

}
