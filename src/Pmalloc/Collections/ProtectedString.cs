using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json.Serialization;

namespace Pmalloc;

/// <summary>
/// A string stored in a pool as UTF-16: what a <see cref="ProtectedDictionary{TKey, TValue}"/> or
/// <see cref="ProtectedSet{T}"/> built from strings hands out instead of a fresh <see cref="string"/>.
/// Reading it (<see cref="AsSpan"/>, the indexer, equality) copies nothing.
/// </summary>
/// <remarks>
/// <para><b>Two origins.</b> A <see cref="ProtectedString"/> that a collection hands out points into pool memory, and can
/// be read as long as its collection is alive: once the collection is disposed, or the pool that holds it destroyed,
/// every accessor that reads the text (<see cref="AsSpan"/>, <see cref="ToString"/>, the indexer, <see cref="Equals(ProtectedString)"/>
/// and the other equality members, <see cref="GetHashCode"/>, the conversion to <see cref="string"/>) throws
/// <see cref="ObjectDisposedException"/>. <see cref="Length"/> and <see cref="IsEmpty"/> still answer (they read no
/// pool memory). Call <see cref="ToString"/> while the collection is alive for a copy that outlives it. The check is a
/// test, not a lock: disposing a collection while another thread reads its strings is a race to avoid, as for any
/// disposable. The implicit conversion from <see cref="string"/> wraps a managed string without copying, so that
/// <c>dictionary["key"]</c>, <c>TryGetValue("key", out ...)</c> and <c>set.Contains("key")</c> read naturally; such a
/// value is not in protected memory and never expires. Both kinds compare equal when their text is equal.</para>
/// <para><b>Equality</b> is ordinal, and <see cref="GetHashCode"/> agrees with it (and with
/// <see cref="string.GetHashCode(ReadOnlySpan{char})"/> of the same text). A collection built with an
/// ignore-case comparer applies that comparer to its lookups, not to this type's own equality. <c>value == "text"</c>
/// and <c>value != null</c> compare with a string directly.</para>
/// <para><b>Pattern matching.</b> C# patterns do not apply user-defined conversions, so <c>value is "admin"</c> does not
/// compile. Switch on the text instead, which C# matches against string constants without allocating:
/// <c>switch (value.AsSpan()) { case "admin": ...; case "reader": ...; }</c>, or
/// <c>value.AsSpan() is "admin" or "root"</c>.</para>
/// <para><b>JSON.</b> <see cref="ProtectedStringJsonConverter"/> (applied to this type) writes it as a JSON string, and as a
/// property name when it is a dictionary key, so a <see cref="ProtectedDictionary{TKey, TValue}"/> serializes like the
/// <c>Dictionary&lt;string, ...&gt;</c> it was built from. Reading JSON gives managed strings, not protected ones.</para>
/// <para>The default value is the empty string. There is no implicit conversion to <see cref="ReadOnlySpan{T}"/> (call
/// <see cref="AsSpan"/>): together with the one from <see cref="string"/> it would make calls such as
/// <c>Assert.Equal("admin", value)</c> ambiguous between the span and the generic overloads.</para>
/// </remarks>
[StructLayout(LayoutKind.Sequential)]
[JsonConverter(typeof(ProtectedStringJsonConverter))]
public readonly unsafe struct ProtectedString : IEquatable<ProtectedString>, IEquatable<string>
{
    // What the text is: a managed string (a lookup key or a value converted from string), a TableLifetime (the text is
    // in pool memory at _chars, readable while the lifetime says so), or null (the default value, the empty string).
    private readonly object? _source;
    private readonly char* _chars;
    private readonly int _length;

    /// <summary>Text in pool memory, readable while <paramref name="lifetime"/> is alive; only the collections make these.</summary>
    internal ProtectedString(TableLifetime lifetime, char* chars, int length)
    {
        _source = lifetime;
        _chars = chars;
        _length = length;
    }

    private ProtectedString(string managed)
    {
        _source = managed;
        _length = managed.Length;
    }

    /// <summary>The number of UTF-16 code units (it reads no pool memory, so it answers after the collection is disposed too).</summary>
    public int Length => _length;

    /// <summary>True for the empty string.</summary>
    public bool IsEmpty => _length == 0;

    /// <summary>True when the text lives in pool memory (handed out by a collection), false when it wraps a managed string.</summary>
    public bool IsInPool => _source is TableLifetime;

    /// <summary>The UTF-16 code unit at <paramref name="index"/>.</summary>
    /// <exception cref="IndexOutOfRangeException"><paramref name="index"/> is outside the string.</exception>
    /// <exception cref="ObjectDisposedException">The collection that handed the string out was disposed, or its pool destroyed.</exception>
    public char this[int index] => AsSpan()[index];

    /// <summary>The text, without copying.</summary>
    /// <exception cref="ObjectDisposedException">The collection that handed the string out was disposed, or its pool destroyed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<char> AsSpan()
    {
        object? source = _source;
        if (source is TableLifetime lifetime)
        {
            if (!lifetime.IsAlive)
            {
                lifetime.ThrowStringDisposed((nint)_chars);
            }

            return new ReadOnlySpan<char>(_chars, _length);
        }

        return source is null ? default : Unsafe.As<string>(source).AsSpan();
    }

    /// <summary>Wraps <paramref name="value"/> without copying, to look it up in a collection or compare it.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null (a protected string is never null).</exception>
    public static implicit operator ProtectedString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new ProtectedString(value);
    }

    /// <summary>A managed copy of the text (the wrapped string itself for one converted from a string): <c>(string)value</c>.</summary>
    /// <exception cref="ObjectDisposedException">The collection that handed the string out was disposed, or its pool destroyed.</exception>
    public static explicit operator string(ProtectedString value) => value.ToString();

    /// <summary>Wraps <paramref name="value"/> without copying (the named form of the implicit conversion).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    public static ProtectedString FromString(string value) => value;

    /// <summary>A new managed copy of the text (this allocates; the lookups never do), or the wrapped string itself.</summary>
    /// <exception cref="ObjectDisposedException">The collection that handed the string out was disposed, or its pool destroyed.</exception>
    public override string ToString() => _source as string ?? AsSpan().ToString();

    /// <summary>Ordinal equality of the text.</summary>
    /// <exception cref="ObjectDisposedException">Either string's collection was disposed, or its pool destroyed.</exception>
    public bool Equals(ProtectedString other) => AsSpan().SequenceEqual(other.AsSpan());

    /// <summary>Ordinal equality with a managed string; false for null.</summary>
    /// <exception cref="ObjectDisposedException">The collection that handed the string out was disposed, or its pool destroyed.</exception>
    public bool Equals(string? other) => other is not null && AsSpan().SequenceEqual(other.AsSpan());

    /// <summary>Ordinal equality with a span of text.</summary>
    /// <exception cref="ObjectDisposedException">The collection that handed the string out was disposed, or its pool destroyed.</exception>
    public bool Equals(ReadOnlySpan<char> other) => AsSpan().SequenceEqual(other);

    /// <summary>Equality of the text with <paramref name="other"/>, using <paramref name="comparison"/>.</summary>
    /// <exception cref="ObjectDisposedException">The collection that handed the string out was disposed, or its pool destroyed.</exception>
    public bool Equals(ReadOnlySpan<char> other, StringComparison comparison) => AsSpan().Equals(other, comparison);

    /// <summary>True only for another <see cref="ProtectedString"/> with the same text (not for a <see cref="string"/>, so that equality stays symmetric).</summary>
    /// <exception cref="ObjectDisposedException">Either string's collection was disposed, or its pool destroyed.</exception>
    public override bool Equals(object? obj) => obj is ProtectedString other && Equals(other);

    /// <summary>The ordinal hash of the text, the same as <see cref="string.GetHashCode(ReadOnlySpan{char})"/>.</summary>
    /// <exception cref="ObjectDisposedException">The collection that handed the string out was disposed, or its pool destroyed.</exception>
    public override int GetHashCode() => string.GetHashCode(AsSpan());

    /// <summary>Ordinal equality.</summary>
    public static bool operator ==(ProtectedString left, ProtectedString right) => left.Equals(right);

    /// <summary>Ordinal inequality.</summary>
    public static bool operator !=(ProtectedString left, ProtectedString right) => !left.Equals(right);

    /// <summary>Ordinal equality with a string; false for null.</summary>
    public static bool operator ==(ProtectedString left, string? right) => left.Equals(right);

    /// <summary>Ordinal inequality with a string; true for null.</summary>
    public static bool operator !=(ProtectedString left, string? right) => !left.Equals(right);

    /// <summary>Ordinal equality with a string; false for null.</summary>
    public static bool operator ==(string? left, ProtectedString right) => right.Equals(left);

    /// <summary>Ordinal inequality with a string; true for null.</summary>
    public static bool operator !=(string? left, ProtectedString right) => !right.Equals(left);

    /// <summary>The text of a lookup key, for the collections' hot paths: a managed string first (what lookups pass).</summary>
    internal ReadOnlySpan<char> KeySpan
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _source is string managed ? managed.AsSpan() : AsSpan();
    }

    /// <summary>The address of the text in the pool (0 for the empty string or a managed string), for tests and the attack catalog.</summary>
    internal nint DangerousAddress => (nint)_chars;
}
