using System.Collections;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Pmalloc;

/// <summary>
/// A read-only dictionary whose keys, values and hash table live in a protected pool, off the GC heap: the
/// <c>FrozenDictionary</c> read API over memory that a stray write cannot change. Build one with
/// <see cref="ProtectedCollection"/>'s <c>ToProtectedDictionary</c>.
/// </summary>
/// <typeparam name="TKey">An unmanaged type, or <see cref="ProtectedString"/> for string keys.</typeparam>
/// <typeparam name="TValue">An unmanaged type, or <see cref="ProtectedString"/> for string values.</typeparam>
/// <remarks>
/// <para><b>Strings.</b> A <see cref="string"/> is a GC object, so it cannot live in a pool: a dictionary built
/// from strings stores their UTF-16 text in the pool and is typed with <see cref="ProtectedString"/> in their place
/// (<c>Dictionary&lt;string, int&gt;</c> becomes <c>ProtectedDictionary&lt;ProtectedString, int&gt;</c>). Lookups
/// still take a <see cref="string"/> (it converts implicitly, without copying) or a <see cref="ReadOnlySpan{T}"/>
/// of <see cref="char"/> (<see cref="ProtectedCollection.TryGetValue{TValue}(ProtectedDictionary{ProtectedString, TValue}, ReadOnlySpan{char}, out TValue)"/>
/// or <see cref="GetAlternateLookup{TAlternateKey}"/>), and values come out as <see cref="ProtectedString"/>,
/// never as a fresh string. Keys compare ordinally or ordinal-ignore-case, as chosen at build time.</para>
/// <para><b>Unmanaged keys</b> compare with <see cref="EqualityComparer{T}.Default"/>, as in
/// <see cref="Dictionary{TKey, TValue}"/> (a key struct should implement <see cref="IEquatable{T}"/>, or each
/// lookup boxes).</para>
/// <para><b>Memory and lifetime.</b> Built into a pool of its own (protected at the end of the build and destroyed
/// by <see cref="Dispose"/>), or into a caller's pool (the caller protects and destroys it; <see cref="Dispose"/>
/// then only forgets the table). Nothing is on the GC heap but this small object. After <see cref="Dispose"/>, or
/// once the pool is destroyed, every member throws <see cref="ObjectDisposedException"/>, and so does every
/// <see cref="ProtectedString"/> already handed out when it is read (copy one out with <see cref="ProtectedString.ToString"/>
/// first if it must outlive the dictionary). A reference from <see cref="GetValueRefOrNullRef"/> is not checked: it is
/// a raw reference into the pool, valid only while the dictionary is.</para>
/// <para><b>Drop-in.</b> <see cref="ProtectedCollection.AsReadOnlyDictionary{TValue}(ProtectedDictionary{ProtectedString, TValue})"/>
/// gives an <see cref="IReadOnlyDictionary{TKey, TValue}"/> of <see cref="string"/> keys over the same table, for code that
/// expects the <c>FrozenDictionary&lt;string, T&gt;</c> this replaces. With System.Text.Json, a dictionary and its view
/// serialize as a JSON object, as a <c>Dictionary&lt;string, T&gt;</c> does.</para>
/// <para><b>Concurrency.</b> Lookups and enumeration take no lock and allocate nothing. Do not dispose while another
/// thread reads.</para>
/// <para><b>Order.</b> Enumeration, <see cref="Keys"/> and <see cref="Values"/> share one order, unrelated to the source's.</para>
/// </remarks>
[DebuggerDisplay("Count = {Count}")]
public sealed unsafe class ProtectedDictionary<TKey, TValue> : IReadOnlyDictionary<TKey, TValue>, IDisposable
    where TKey : notnull
{
    private readonly ProtectablePool _pool;
    private readonly bool _ownsPool;
    private readonly TableLifetime _lifetime;
    private TableHeader* _table;

    internal ProtectedDictionary(ProtectablePool pool, bool ownsPool, TableLifetime lifetime, TableHeader* table)
    {
        Debug.Assert(IsStorable<TKey>() && IsStorable<TValue>());
        _pool = pool;
        _ownsPool = ownsPool;
        _lifetime = lifetime;
        _table = table;
    }

    /// <summary>The pool that holds the table: the dictionary's own, or the caller's.</summary>
    public ProtectablePool Pool => _pool;

    /// <summary>The number of entries.</summary>
    public int Count => Table->Count;

    /// <summary>The keys, in enumeration order.</summary>
    public KeyCollection Keys => new(this);

    /// <summary>The values, in enumeration order (the same as <see cref="Keys"/>).</summary>
    public ValueCollection Values => new(this);

    IEnumerable<TKey> IReadOnlyDictionary<TKey, TValue>.Keys => Keys;

    IEnumerable<TValue> IReadOnlyDictionary<TKey, TValue>.Values => Values;

    /// <summary>The string-key comparer the dictionary was built with (<see cref="StringComparer.Ordinal"/> or
    /// <see cref="StringComparer.OrdinalIgnoreCase"/>); <see langword="null"/> for unmanaged keys, which use <see cref="EqualityComparer{T}.Default"/>.</summary>
    public StringComparer? Comparer =>
        typeof(TKey) != typeof(ProtectedString) ? null : Table->IgnoreCase ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

    /// <summary>The value stored for <paramref name="key"/>.</summary>
    /// <exception cref="KeyNotFoundException">The key is not in the dictionary.</exception>
    public TValue this[TKey key]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if (!HashTable.TryGetValue(Table, key, _lifetime, out TValue? value))
            {
                ThrowKeyNotFound(key);
            }

            return value!;
        }
    }

    /// <summary>Looks up <paramref name="key"/>; no lock, no allocation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetValue(TKey key, [MaybeNullWhen(false)] out TValue value) => HashTable.TryGetValue(Table, key, _lifetime, out value);

    /// <summary>Is <paramref name="key"/> in the dictionary?</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool ContainsKey(TKey key) => HashTable.IndexOf(Table, key) >= 0;

    /// <summary>
    /// A read-only reference to the value stored for <paramref name="key"/> in the pool, or a null reference
    /// (test with <see cref="Unsafe.IsNullRef{T}(ref readonly T)"/>); no copy of a large value. The reference is raw:
    /// nothing checks it after the dictionary is disposed.
    /// </summary>
    /// <exception cref="NotSupportedException">The values are strings (<see cref="ProtectedString"/>): they are stored as
    /// text, with no <see cref="ProtectedString"/> in the pool to refer to; use <see cref="TryGetValue"/>.</exception>
    public ref readonly TValue GetValueRefOrNullRef(TKey key)
    {
        TableHeader* table = Table;
        if (typeof(TValue) == typeof(ProtectedString))
        {
            throw ThrowHelper.NoValueReference(Description);
        }

        return ref HashTable.ValueRef<TKey, TValue>(table, key);
    }

    /// <summary>
    /// A lookup by another key type, as <c>FrozenDictionary.GetAlternateLookup</c>: for string keys,
    /// <c>ReadOnlySpan&lt;char&gt;</c> or <see cref="string"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The dictionary does not support that key type.</exception>
    public AlternateLookup<TAlternateKey> GetAlternateLookup<TAlternateKey>()
        where TAlternateKey : notnull, allows ref struct
    {
        if (!TryGetAlternateLookup(out AlternateLookup<TAlternateKey> lookup))
        {
            throw ThrowHelper.NoAlternateLookup(Description, typeof(TAlternateKey));
        }

        return lookup;
    }

    /// <summary>A lookup by another key type, if the dictionary supports it (see <see cref="GetAlternateLookup{TAlternateKey}"/>).</summary>
    public bool TryGetAlternateLookup<TAlternateKey>(out AlternateLookup<TAlternateKey> lookup)
        where TAlternateKey : notnull, allows ref struct
    {
        bool supported = typeof(TKey) == typeof(ProtectedString) && (typeof(TAlternateKey) == typeof(ReadOnlySpan<char>) || typeof(TAlternateKey) == typeof(string));
        lookup = supported ? new AlternateLookup<TAlternateKey>(this) : default;
        return supported;
    }

    /// <summary>Enumerates the entries; a struct, so <c>foreach</c> over the dictionary allocates nothing.</summary>
    public Enumerator GetEnumerator() => new(this);

    IEnumerator<KeyValuePair<TKey, TValue>> IEnumerable<KeyValuePair<TKey, TValue>>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>
    /// Forgets the table and, if the dictionary owns its pool, destroys the pool (wiped, unmapped). A caller's pool is
    /// left alone: its owner disposes it. Calling it again does nothing.
    /// </summary>
    public void Dispose()
    {
        _table = null;
        _lifetime.End();
        if (_ownsPool)
        {
            _pool.Dispose();
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Description} in pool '{_pool.Name}'";

    /// <summary>The lifetime its strings check.</summary>
    internal TableLifetime Lifetime => _lifetime;

    private static string Description => $"ProtectedDictionary<{typeof(TKey).Name}, {typeof(TValue).Name}>";

    /// <summary>The table, after checking that it (and its pool) are still alive.</summary>
    internal TableHeader* Table
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            TableHeader* table = _table;
            if (table is null || _pool.State == PoolState.Destroyed)
            {
                ThrowDisposed();
            }

            return table;
        }
    }

    /// <summary>Can <typeparamref name="T"/> be kept in pool memory? Unmanaged types, and ProtectedString (whose GC reference is null there).</summary>
    internal static bool IsStorable<T>() => typeof(T) == typeof(ProtectedString) || !RuntimeHelpers.IsReferenceOrContainsReferences<T>();

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowDisposed() => throw ThrowHelper.CollectionDisposed(ToString(), _pool.Name, "dictionary");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowKeyNotFound(TKey key) => throw ThrowHelper.KeyNotFound(_pool.Name, $"'{key}'");

    /// <summary>Enumerates the entries of a <see cref="ProtectedDictionary{TKey, TValue}"/>.</summary>
    public struct Enumerator : IEnumerator<KeyValuePair<TKey, TValue>>
    {
        private readonly ProtectedDictionary<TKey, TValue> _dictionary;
        private int _index;

        internal Enumerator(ProtectedDictionary<TKey, TValue> dictionary)
        {
            _dictionary = dictionary;
            _index = -1;
        }

        /// <summary>The current entry.</summary>
        public readonly KeyValuePair<TKey, TValue> Current
        {
            get
            {
                TableHeader* table = _dictionary.Table;
                return new(HashTable.KeyAt<TKey>(table, _index, _dictionary._lifetime), HashTable.ValueAt<TKey, TValue>(table, _index, _dictionary._lifetime));
            }
        }

        readonly object IEnumerator.Current => Current;

        /// <summary>Moves to the next entry.</summary>
        public bool MoveNext() => ++_index < _dictionary.Count;

        /// <summary>Starts over.</summary>
        public void Reset() => _index = -1;

        /// <summary>Does nothing.</summary>
        public readonly void Dispose()
        {
        }
    }

    /// <summary>The keys of a <see cref="ProtectedDictionary{TKey, TValue}"/>, in enumeration order, by index.</summary>
    public readonly struct KeyCollection : IReadOnlyList<TKey>
    {
        private readonly ProtectedDictionary<TKey, TValue> _dictionary;

        internal KeyCollection(ProtectedDictionary<TKey, TValue> dictionary) => _dictionary = dictionary;

        /// <summary>The number of keys.</summary>
        public int Count => _dictionary.Count;

        /// <summary>The key at <paramref name="index"/> in enumeration order.</summary>
        /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is negative or not below <see cref="Count"/>.</exception>
        public TKey this[int index]
        {
            get
            {
                TableHeader* table = _dictionary.Table;
                ArgumentOutOfRangeException.ThrowIfNegative(index);
                ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, table->Count);
                return HashTable.KeyAt<TKey>(table, index, _dictionary._lifetime);
            }
        }

        /// <summary>Enumerates the keys without allocating.</summary>
        public Enumerator GetEnumerator() => new(_dictionary);

        IEnumerator<TKey> IEnumerable<TKey>.GetEnumerator() => GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        /// <summary>Enumerates the keys.</summary>
        public struct Enumerator : IEnumerator<TKey>
        {
            private readonly ProtectedDictionary<TKey, TValue> _dictionary;
            private int _index;

            internal Enumerator(ProtectedDictionary<TKey, TValue> dictionary)
            {
                _dictionary = dictionary;
                _index = -1;
            }

            /// <summary>The current key.</summary>
            public readonly TKey Current => HashTable.KeyAt<TKey>(_dictionary.Table, _index, _dictionary._lifetime);

            readonly object IEnumerator.Current => Current;

            /// <summary>Moves to the next key.</summary>
            public bool MoveNext() => ++_index < _dictionary.Count;

            /// <summary>Starts over.</summary>
            public void Reset() => _index = -1;

            /// <summary>Does nothing.</summary>
            public readonly void Dispose()
            {
            }
        }
    }

    /// <summary>The values of a <see cref="ProtectedDictionary{TKey, TValue}"/>, in enumeration order, by index.</summary>
    public readonly struct ValueCollection : IReadOnlyList<TValue>
    {
        private readonly ProtectedDictionary<TKey, TValue> _dictionary;

        internal ValueCollection(ProtectedDictionary<TKey, TValue> dictionary) => _dictionary = dictionary;

        /// <summary>The number of values.</summary>
        public int Count => _dictionary.Count;

        /// <summary>The value at <paramref name="index"/> in enumeration order.</summary>
        /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is negative or not below <see cref="Count"/>.</exception>
        public TValue this[int index]
        {
            get
            {
                TableHeader* table = _dictionary.Table;
                ArgumentOutOfRangeException.ThrowIfNegative(index);
                ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, table->Count);
                return HashTable.ValueAt<TKey, TValue>(table, index, _dictionary._lifetime);
            }
        }

        /// <summary>Enumerates the values without allocating.</summary>
        public Enumerator GetEnumerator() => new(_dictionary);

        IEnumerator<TValue> IEnumerable<TValue>.GetEnumerator() => GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        /// <summary>Enumerates the values.</summary>
        public struct Enumerator : IEnumerator<TValue>
        {
            private readonly ProtectedDictionary<TKey, TValue> _dictionary;
            private int _index;

            internal Enumerator(ProtectedDictionary<TKey, TValue> dictionary)
            {
                _dictionary = dictionary;
                _index = -1;
            }

            /// <summary>The current value.</summary>
            public readonly TValue Current => HashTable.ValueAt<TKey, TValue>(_dictionary.Table, _index, _dictionary._lifetime);

            readonly object IEnumerator.Current => Current!;

            /// <summary>Moves to the next value.</summary>
            public bool MoveNext() => ++_index < _dictionary.Count;

            /// <summary>Starts over.</summary>
            public void Reset() => _index = -1;

            /// <summary>Does nothing.</summary>
            public readonly void Dispose()
            {
            }
        }
    }

    /// <summary>
    /// Looks up a dictionary with <see cref="ProtectedString"/> keys by <c>ReadOnlySpan&lt;char&gt;</c> or
    /// <see cref="string"/>, without allocating (<c>FrozenDictionary.AlternateLookup</c>'s shape).
    /// </summary>
    public readonly struct AlternateLookup<TAlternateKey>
        where TAlternateKey : notnull, allows ref struct
    {
        internal AlternateLookup(ProtectedDictionary<TKey, TValue> dictionary) => Dictionary = dictionary;

        /// <summary>The dictionary this looks up.</summary>
        public ProtectedDictionary<TKey, TValue> Dictionary { get; }

        /// <summary>The value stored for <paramref name="key"/>.</summary>
        /// <exception cref="KeyNotFoundException">The key is not in the dictionary.</exception>
        public TValue this[TAlternateKey key] =>
            TryGetValue(key, out TValue? value) ? value : throw ThrowHelper.KeyNotFound(Dictionary._pool.Name, null);

        /// <summary>Looks up <paramref name="key"/>.</summary>
        public bool TryGetValue(TAlternateKey key, [MaybeNullWhen(false)] out TValue value)
        {
            return HashTable.TryGetStringValue(Dictionary.Table, AsSpan(key), Dictionary._lifetime, out value);
        }

        /// <summary>Is <paramref name="key"/> in the dictionary?</summary>
        public bool ContainsKey(TAlternateKey key) => HashTable.IndexOfString(Dictionary.Table, AsSpan(key)) >= 0;

        private static ReadOnlySpan<char> AsSpan(TAlternateKey key)
        {
            if (typeof(TAlternateKey) == typeof(string))
            {
                return Unsafe.As<TAlternateKey, string>(ref key).AsSpan();
            }

            Debug.Assert(typeof(TAlternateKey) == typeof(ReadOnlySpan<char>));
            return Unsafe.As<TAlternateKey, ReadOnlySpan<char>>(ref key);
        }
    }
}
