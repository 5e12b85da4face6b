namespace Pmalloc;

/// <summary>How a table of string keys hashes them: chosen at build time from the keys, stored in the table's header.</summary>
/// <remarks>
/// The build starts with the cheapest kind that tells the keys apart and moves down this list when the keys collide too
/// much (see <see cref="StringHash"/>): a slice, then every code unit, then the runtime's randomized hash, which no set
/// of keys can be crafted against. Slices of four and eight code units (one and two 8-byte reads) have kinds of their
/// own, so that each lookup path is compiled for one shape.
/// </remarks>
internal enum StringHashKind : byte
{
    /// <summary>Four code units at a fixed place (from the start or the end) and the length, ordinal, seeded.</summary>
    OrdinalSlice4,

    /// <summary>Eight code units at a fixed place and the length, ordinal, seeded.</summary>
    OrdinalSlice8,

    /// <summary>One to three, or five to seven, code units at a fixed place and the length (keys shorter than the usual slices), ordinal, seeded.</summary>
    OrdinalSlice,

    /// <summary>Every code unit, ordinal, seeded.</summary>
    Ordinal,

    /// <summary>As <see cref="OrdinalSlice4"/>, ASCII letters folded (all keys are ASCII).</summary>
    IgnoreCaseAsciiSlice4,

    /// <summary>As <see cref="OrdinalSlice8"/>, ASCII letters folded (all keys are ASCII).</summary>
    IgnoreCaseAsciiSlice8,

    /// <summary>As <see cref="OrdinalSlice"/>, ASCII letters folded (all keys are ASCII).</summary>
    IgnoreCaseAsciiSlice,

    /// <summary>Every code unit, ASCII letters folded (all keys are ASCII), seeded.</summary>
    IgnoreCaseAscii,

    /// <summary>The runtime's randomized ordinal hash (Marvin, keyed per process): the fallback when the keys collide.</summary>
    Randomized,

    /// <summary>The runtime's randomized ordinal-ignore-case hash: keys beyond ASCII, or ASCII keys that collide.</summary>
    RandomizedIgnoreCase,
}
