using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// A string stored in a pool as UTF-16: what a <see cref="ProtectedDictionary{TKey, TValue}"/> or
/// <see cref="ProtectedSet{T}"/> built from strings hands out instead of a fresh <see cref="string"/>.
/// Reading it (<see cref="AsSpan"/>, <see cref="Length"/>, the indexer, equality) copies nothing.
/// </summary>
/// <remarks>
/// <para><b>Two origins.</b> A <see cref="ProtectedString"/> that a collection hands out points into pool memory,
/// and is valid as long as that pool's memory is (until the collection, or the caller's pool, is disposed: after
/// that, reading it faults like any pointer into a destroyed pool; <see cref="ToString"/> copies it out if it must
/// outlive the pool). The implicit conversion from <see cref="string"/> wraps a managed string without copying, so that
/// <c>dictionary["key"]</c>, <c>TryGetValue("key", out ...)</c> and <c>set.Contains("key")</c> read naturally;
/// such a value is not in protected memory. Both kinds compare equal when their text is equal.</para>
/// <para><b>Equality</b> is ordinal, and <see cref="GetHashCode"/> agrees with it (and with
/// <see cref="string.GetHashCode(ReadOnlySpan{char})"/> of the same text). A collection built with an
/// ignore-case comparer applies that comparer to its lookups, not to this type's own equality.</para>
/// <para>The default value is the empty string. There is no implicit conversion to <see cref="ReadOnlySpan{T}"/> (call
/// <see cref="AsSpan"/>): together with the one from <see cref="string"/> it would make calls such as
/// <c>Assert.Equal("admin", value)</c> ambiguous between the span and the generic overloads.</para>
/// </remarks>
[StructLayout(LayoutKind.Sequential)]
public readonly unsafe struct ProtectedString : IEquatable<ProtectedString>, IEquatable<string>
{
    // Exactly one of the two is used: a managed string (a lookup key converted from string), or
    // UTF-16 text in pool memory. A ProtectedString stored inside a pool has _managed == null, so the
    // garbage collector never needs to see it there.
    private readonly string? _managed;
    private readonly char* _chars;
    private readonly int _length;

    /// <summary>Text in pool memory; only the collections make these.</summary>
    internal ProtectedString(char* chars, int length)
    {
        _chars = chars;
        _length = length;
    }

    private ProtectedString(string managed)
    {
        _managed = managed;
        _length = managed.Length;
    }

    /// <summary>The number of UTF-16 code units.</summary>
    public int Length => _length;

    /// <summary>True for the empty string.</summary>
    public bool IsEmpty => _length == 0;

    /// <summary>True when the text lives in pool memory (handed out by a collection), false when it wraps a managed string.</summary>
    public bool IsInPool => _managed is null && _chars is not null;

    /// <summary>The UTF-16 code unit at <paramref name="index"/>.</summary>
    /// <exception cref="IndexOutOfRangeException"><paramref name="index"/> is outside the string.</exception>
    public char this[int index] => AsSpan()[index];

    /// <summary>The text, without copying.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<char> AsSpan() => _managed is null ? new ReadOnlySpan<char>(_chars, _length) : _managed.AsSpan();

    /// <summary>Wraps <paramref name="value"/> without copying, to look it up in a collection or compare it.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null (a protected string is never null).</exception>
    public static implicit operator ProtectedString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new ProtectedString(value);
    }

    /// <summary>Wraps <paramref name="value"/> without copying (the named form of the implicit conversion).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    public static ProtectedString FromString(string value) => value;

    /// <summary>A new managed copy of the text (this allocates; the lookups never do).</summary>
    public override string ToString() => _managed ?? AsSpan().ToString();

    /// <summary>Ordinal equality of the text.</summary>
    public bool Equals(ProtectedString other) => AsSpan().SequenceEqual(other.AsSpan());

    /// <summary>Ordinal equality with a managed string; false for null.</summary>
    public bool Equals(string? other) => other is not null && AsSpan().SequenceEqual(other.AsSpan());

    /// <summary>Ordinal equality with a span of text.</summary>
    public bool Equals(ReadOnlySpan<char> other) => AsSpan().SequenceEqual(other);

    /// <summary>Equality of the text with <paramref name="other"/>, using <paramref name="comparison"/>.</summary>
    public bool Equals(ReadOnlySpan<char> other, StringComparison comparison) => AsSpan().Equals(other, comparison);

    /// <summary>True only for another <see cref="ProtectedString"/> with the same text (not for a <see cref="string"/>, so that equality stays symmetric).</summary>
    public override bool Equals(object? obj) => obj is ProtectedString other && Equals(other);

    /// <summary>The ordinal hash of the text, the same as <see cref="string.GetHashCode(ReadOnlySpan{char})"/>.</summary>
    public override int GetHashCode() => string.GetHashCode(AsSpan());

    /// <summary>Ordinal equality.</summary>
    public static bool operator ==(ProtectedString left, ProtectedString right) => left.Equals(right);

    /// <summary>Ordinal inequality.</summary>
    public static bool operator !=(ProtectedString left, ProtectedString right) => !left.Equals(right);

    /// <summary>The text in pool memory, for the collections' hot paths (no managed-string test).</summary>
    internal ReadOnlySpan<char> PoolSpan
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => new(_chars, _length);
    }

    /// <summary>The address of the text in the pool (0 for the empty string or a managed string), for the attack catalog.</summary>
    internal nint DangerousAddress => (nint)_chars;
}
