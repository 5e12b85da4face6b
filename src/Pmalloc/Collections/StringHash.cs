using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// The hash codes of string keys in protected collections. They need not be randomized per process (the table is
/// built and read in one process from keys its owner chose, as FrozenDictionary does), only fast and well spread.
/// </summary>
internal static class StringHash
{
    private const ulong Multiplier = 0x9E3779B97F4A7C15; // 2^64 / golden ratio

    /// <summary>An ordinal hash: four UTF-16 code units per step, multiply and rotate, folded to 32 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Ordinal(ReadOnlySpan<char> text)
    {
        ref byte bytes = ref Unsafe.As<char, byte>(ref MemoryMarshal.GetReference(text));
        int length = text.Length;
        ulong hash = (ulong)length * Multiplier;
        int i = 0;
        for (; i <= length - 4; i += 4)
        {
            hash = BitOperations.RotateLeft((hash ^ Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref bytes, i * 2))) * Multiplier, 29);
        }

        if (i < length)
        {
            // One to three code units left: read them as one number, shorter than the full steps.
            ulong tail = text[i];
            if (i + 1 < length)
            {
                tail |= (ulong)text[i + 1] << 16;
                if (i + 2 < length)
                {
                    tail |= (ulong)text[i + 2] << 32;
                }
            }

            hash = BitOperations.RotateLeft((hash ^ tail) * Multiplier, 29);
        }

        hash *= Multiplier;
        return (int)(hash >> 32) ^ (int)hash;
    }

    /// <summary>A hash under ordinal-ignore-case: equal for strings that <see cref="StringComparer.OrdinalIgnoreCase"/> calls equal.</summary>
    internal static int OrdinalIgnoreCase(ReadOnlySpan<char> text) => string.GetHashCode(text, StringComparison.OrdinalIgnoreCase);
}
