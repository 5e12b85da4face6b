using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Pmalloc;

/// <summary>
/// The hash codes of string keys in protected collections: fast, keyed per process, and backed by the runtime's
/// randomized hash when the keys collide.
/// </summary>
/// <remarks>
/// <para><b>Slices.</b> As FrozenDictionary does, the build looks for a slice of at most four, else eight, code units (from the
/// start or from the end of the key) that tells nearly all keys apart, and then hashes only that slice and the length: one
/// or two 8-byte reads per lookup. Without one, every code unit is hashed, four per step.</para>
/// <para><b>Hostile keys.</b> Keys may come from input an attacker chose (a policy file, a request). Every hash here mixes
/// in <see cref="Seed"/>, 64 random bits drawn once per process, so precomputed colliding keys collide no more than random
/// ones. The mixing is cheap, not cryptographic: some colliding sets do not depend on the seed (keys equal in their slice,
/// or differing by paired high bits). So the build measures what it built (<see cref="HashTableBuilder"/>): when one home
/// holds too many keys, a key lies too far past its home, or too many keys share one hash code, it rebuilds with the next
/// kind of <see cref="StringHashKind"/>,
/// ending with the runtime's Marvin hash, which is keyed per process and made for this. A crafted set of keys then costs
/// at most a few extra comparisons per lookup.</para>
/// <para><b>Ignore-case</b> over all-ASCII keys folds ASCII letters to upper case and every other character to one class,
/// except ı (U+0131) and ſ (U+017F), the only non-ASCII characters whose upper case is an ASCII letter: so two strings equal
/// under <see cref="StringComparison.OrdinalIgnoreCase"/> always hash alike, which a test checks against the runtime
/// for every UTF-16 code unit.</para>
/// </remarks>
internal static class StringHash
{
    private const ulong Multiplier = 0x9E3779B97F4A7C15; // 2^64 / golden ratio
    private const ulong LengthMultiplier = 0xC2B2AE3D27D4EB4F;
    private const ulong Lanes = 0x0001_0001_0001_0001;
    private const ulong NonAsciiMask = 0xFF80_FF80_FF80_FF80;

    /// <summary>Slices are tried at this many places from each end of the keys.</summary>
    private const int MaxSlicePlaces = 16;

    /// <summary>The slice is chosen on at most this many keys (evenly spread); larger sets are judged by extrapolation.</summary>
    private const int SampleSize = 4096;

    /// <summary>
    /// The per-process key of every hash here: 64 bits from the OS's random source, drawn when the type is first used.
    /// A <c>static readonly</c> field, so optimized code reads it as a constant.
    /// </summary>
    internal static readonly ulong Seed = NewSeed();

    /// <summary>The hash of a key under a chosen kind (for the build; lookups call the kind's <see cref="IKind.Hash"/>).</summary>
    internal static int Of(StringHashKind kind, ReadOnlySpan<char> key, int sliceStart, int sliceLength) => kind switch
    {
        StringHashKind.OrdinalSlice4 => OrdinalSlice4.Hash(key, sliceStart, sliceLength),
        StringHashKind.OrdinalSlice8 => OrdinalSlice8.Hash(key, sliceStart, sliceLength),
        StringHashKind.OrdinalSlice => OrdinalSliceAny.Hash(key, sliceStart, sliceLength),
        StringHashKind.Ordinal => OrdinalFull.Hash(key, sliceStart, sliceLength),
        StringHashKind.IgnoreCaseAsciiSlice4 => IgnoreCaseAsciiSlice4.Hash(key, sliceStart, sliceLength),
        StringHashKind.IgnoreCaseAsciiSlice8 => IgnoreCaseAsciiSlice8.Hash(key, sliceStart, sliceLength),
        StringHashKind.IgnoreCaseAsciiSlice => IgnoreCaseAsciiSliceAny.Hash(key, sliceStart, sliceLength),
        StringHashKind.IgnoreCaseAscii => IgnoreCaseAsciiFull.Hash(key, sliceStart, sliceLength),
        StringHashKind.Randomized => Randomized.Hash(key, sliceStart, sliceLength),
        _ => RandomizedIgnoreCase.Hash(key, sliceStart, sliceLength),
    };

    /// <summary>The kind to rebuild with when <paramref name="kind"/> let the keys collide too much; false for the randomized kinds, the last resort.</summary>
    internal static bool TryEscalate(StringHashKind kind, out StringHashKind next)
    {
        next = kind switch
        {
            StringHashKind.OrdinalSlice4 or StringHashKind.OrdinalSlice8 or StringHashKind.OrdinalSlice => StringHashKind.Ordinal,
            StringHashKind.Ordinal => StringHashKind.Randomized,
            StringHashKind.IgnoreCaseAsciiSlice4 or StringHashKind.IgnoreCaseAsciiSlice8 or StringHashKind.IgnoreCaseAsciiSlice => StringHashKind.IgnoreCaseAscii,
            StringHashKind.IgnoreCaseAscii => StringHashKind.RandomizedIgnoreCase,
            _ => kind,
        };
        return next != kind;
    }

    /// <summary>Chooses the hash for <paramref name="keys"/> (distinct under the comparer), and returns the slice if one was chosen.</summary>
    internal static StringHashKind Choose(string[] keys, bool ignoreCase, int minLength, out int sliceStart, out int sliceLength)
    {
        sliceStart = sliceLength = 0;
        if (ignoreCase && !AllAscii(keys))
        {
            return StringHashKind.RandomizedIgnoreCase;
        }

        StringHashKind full = ignoreCase ? StringHashKind.IgnoreCaseAscii : StringHashKind.Ordinal;
        if (keys.Length < 2 || minLength == 0)
        {
            return full;
        }

        // Judge slices on an even sample of the keys. Repeats grow with the square of the number of keys, so a sample of
        // s keys out of n may show at most s*s/(16n) repeats for the whole set to keep to about 1 key in 16 sharing a hash
        // code (on the whole set when it is small enough). The build checks what it gets anyway.
        int step = Math.Max(1, keys.Length / SampleSize);
        int sampled = (keys.Length + step - 1) / step;
        int allowed = (int)Math.Min(sampled / 16, (long)sampled * sampled / (16L * keys.Length));
        HashSet<int> seen = new(sampled);
        int previous = 0;
        foreach (int length in (ReadOnlySpan<int>)[Math.Min(4, minLength), Math.Min(8, minLength)])
        {
            if (length == previous)
            {
                break;
            }

            previous = length;
            int places = Math.Min(minLength - length + 1, MaxSlicePlaces);
            for (int place = 0; place < 2 * places; place++)
            {
                // Even places count from the start, odd ones from the end (a negative start).
                int start = place % 2 == 0 ? place / 2 : -(place / 2) - length;
                seen.Clear();
                int repeats = 0;
                for (int i = 0; i < keys.Length && repeats <= allowed; i += step)
                {
                    repeats += seen.Add(Slice(keys[i], start, length, ignoreCase)) ? 0 : 1;
                }

                if (repeats <= allowed)
                {
                    (sliceStart, sliceLength) = (start, length);
                    return (length, ignoreCase) switch
                    {
                        (4, false) => StringHashKind.OrdinalSlice4,
                        (8, false) => StringHashKind.OrdinalSlice8,
                        (_, false) => StringHashKind.OrdinalSlice,
                        (4, true) => StringHashKind.IgnoreCaseAsciiSlice4,
                        (8, true) => StringHashKind.IgnoreCaseAsciiSlice8,
                        _ => StringHashKind.IgnoreCaseAsciiSlice,
                    };
                }
            }
        }

        return full;
    }

    /// <summary>An ordinal hash of every code unit: four per step, multiply and rotate, folded to 32 bits, seeded.</summary>
    internal static int Ordinal(ReadOnlySpan<char> text)
    {
        ref byte bytes = ref Unsafe.As<char, byte>(ref MemoryMarshal.GetReference(text));
        int length = text.Length;
        ulong hash = Seed ^ unchecked((ulong)length * LengthMultiplier);
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

    /// <summary>A hash of every code unit under ASCII case folding (see the class remarks for the rest), seeded.</summary>
    internal static int OrdinalIgnoreCaseAscii(ReadOnlySpan<char> text)
    {
        ref byte bytes = ref Unsafe.As<char, byte>(ref MemoryMarshal.GetReference(text));
        int length = text.Length;
        ulong hash = Seed ^ unchecked((ulong)length * LengthMultiplier);
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

    /// <summary>The hash of <paramref name="length"/> (1 to 8) code units at <paramref name="start"/> (from the end when negative), and of the text's length, seeded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Slice(ReadOnlySpan<char> text, int start, int length, bool ignoreCase)
    {
        int at = At(text, start);
        ulong first = length >= 4 ? Read4(text, at) : ReadSlice(text, at, length);
        ulong hash = (ignoreCase ? Fold(first) : first) ^ Seed ^ unchecked((ulong)text.Length * LengthMultiplier);
        if (length > 4)
        {
            ulong second = length == 8 ? Read4(text, at + 4) : ReadSlice(text, at + 4, length - 4);
            hash = Step(hash, ignoreCase ? Fold(second) : second);
        }

        return Finish(hash);
    }

    /// <summary>Four code units at <paramref name="start"/> as one number.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Read4(ReadOnlySpan<char> text, int start) =>
        Unsafe.ReadUnaligned<ulong>(ref Unsafe.As<char, byte>(ref Unsafe.Add(ref MemoryMarshal.GetReference(text), start)));

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

    /// <summary>
    /// One way of hashing, as a type: a lookup path is compiled once per kind (<c>HashTable.Find</c>), so each has one hash
    /// inlined and nothing to decide per key, as FrozenDictionary's one class per kind does.
    /// </summary>
    internal interface IKind
    {
        /// <summary>Keys compare with ordinal-ignore-case.</summary>
        static abstract bool IgnoreCase { get; }

        /// <summary>The hash of <paramref name="key"/>; the slice is the table's (ignored by the kinds that hash every code unit).</summary>
        static abstract int Hash(ReadOnlySpan<char> key, int sliceStart, int sliceLength);
    }

    internal readonly struct OrdinalSlice4 : IKind
    {
        public static bool IgnoreCase => false;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Hash(ReadOnlySpan<char> key, int sliceStart, int sliceLength) =>
            Finish(Read4(key, At(key, sliceStart)) ^ Seed ^ unchecked((ulong)key.Length * LengthMultiplier));
    }

    internal readonly struct OrdinalSlice8 : IKind
    {
        public static bool IgnoreCase => false;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Hash(ReadOnlySpan<char> key, int sliceStart, int sliceLength)
        {
            int at = At(key, sliceStart);
            return Finish(Step(Read4(key, at) ^ Seed ^ unchecked((ulong)key.Length * LengthMultiplier), Read4(key, at + 4)));
        }
    }

    internal readonly struct OrdinalSliceAny : IKind
    {
        public static bool IgnoreCase => false;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Hash(ReadOnlySpan<char> key, int sliceStart, int sliceLength) => Slice(key, sliceStart, sliceLength, ignoreCase: false);
    }

    internal readonly struct OrdinalFull : IKind
    {
        public static bool IgnoreCase => false;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Hash(ReadOnlySpan<char> key, int sliceStart, int sliceLength) => Ordinal(key);
    }

    internal readonly struct IgnoreCaseAsciiSlice4 : IKind
    {
        public static bool IgnoreCase => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Hash(ReadOnlySpan<char> key, int sliceStart, int sliceLength) =>
            Finish(Fold(Read4(key, At(key, sliceStart))) ^ Seed ^ unchecked((ulong)key.Length * LengthMultiplier));
    }

    internal readonly struct IgnoreCaseAsciiSlice8 : IKind
    {
        public static bool IgnoreCase => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Hash(ReadOnlySpan<char> key, int sliceStart, int sliceLength)
        {
            int at = At(key, sliceStart);
            return Finish(Step(Fold(Read4(key, at)) ^ Seed ^ unchecked((ulong)key.Length * LengthMultiplier), Fold(Read4(key, at + 4))));
        }
    }

    internal readonly struct IgnoreCaseAsciiSliceAny : IKind
    {
        public static bool IgnoreCase => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Hash(ReadOnlySpan<char> key, int sliceStart, int sliceLength) => Slice(key, sliceStart, sliceLength, ignoreCase: true);
    }

    internal readonly struct IgnoreCaseAsciiFull : IKind
    {
        public static bool IgnoreCase => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Hash(ReadOnlySpan<char> key, int sliceStart, int sliceLength) => OrdinalIgnoreCaseAscii(key);
    }

    internal readonly struct Randomized : IKind
    {
        public static bool IgnoreCase => false;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Hash(ReadOnlySpan<char> key, int sliceStart, int sliceLength) => string.GetHashCode(key);
    }

    internal readonly struct RandomizedIgnoreCase : IKind
    {
        public static bool IgnoreCase => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Hash(ReadOnlySpan<char> key, int sliceStart, int sliceLength) => string.GetHashCode(key, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Where a slice starts in <paramref name="text"/>: at <paramref name="start"/>, or that far from the end when negative.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int At(ReadOnlySpan<char> text, int start) => start >= 0 ? start : text.Length + start;

    private static bool AllAscii(string[] keys)
    {
        foreach (string key in keys)
        {
            if (!System.Text.Ascii.IsValid(key))
            {
                return false;
            }
        }

        return true;
    }

    private static ulong NewSeed()
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        RandomNumberGenerator.Fill(bytes);
        return BitConverter.ToUInt64(bytes);
    }
}
