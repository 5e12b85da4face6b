using System.Collections;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Pmalloc;

/// <summary>
/// A read-only set whose elements and hash table live in a protected pool, off the GC heap: the <c>FrozenSet</c>
/// read API over memory that a stray write cannot change. Build one with <see cref="ProtectedCollection"/>'s
/// <c>ToProtectedSet</c>.
/// </summary>
/// <typeparam name="T">An unmanaged type, or <see cref="ProtectedString"/> for strings.</typeparam>
/// <remarks>
/// The same table, rules and lifetime as <see cref="ProtectedDictionary{TKey, TValue}"/> (strings become
/// <see cref="ProtectedString"/>; <see cref="Contains(T)"/> takes a <see cref="string"/> by implicit conversion, and
/// <see cref="ProtectedCollection.Contains(ProtectedSet{ProtectedString}, ReadOnlySpan{char})"/> a span). Duplicates
/// in the source are dropped, as <c>ToFrozenSet</c> and <see cref="HashSet{T}"/> do. The set operations
/// (<see cref="IsSubsetOf"/> and the rest) compare with this set's own equality, ignore-case included. Elements handed out
/// throw <see cref="ObjectDisposedException"/> when read after the set is disposed or its pool destroyed.
/// <see cref="ProtectedCollection.AsReadOnlySet(ProtectedSet{ProtectedString})"/> gives an <see cref="IReadOnlySet{T}"/> of
/// <see cref="string"/> over the same table, for code that expects the <c>FrozenSet&lt;string&gt;</c> this replaces.
/// </remarks>
[DebuggerDisplay("Count = {Count}")]
public sealed unsafe class ProtectedSet<T> : IReadOnlySet<T>, IDisposable
    where T : notnull
{
    private readonly ProtectablePool _pool;
    private readonly bool _ownsPool;
    private readonly TableLifetime _lifetime;
    private TableHeader* _table;

    internal ProtectedSet(ProtectablePool pool, bool ownsPool, TableLifetime lifetime, TableHeader* table)
    {
        Debug.Assert(ProtectedDictionary<T, byte>.IsStorable<T>());
        _pool = pool;
        _ownsPool = ownsPool;
        _lifetime = lifetime;
        _table = table;
    }

    /// <summary>The pool that holds the table: the set's own, or the caller's.</summary>
    public ProtectablePool Pool => _pool;

    /// <summary>The number of elements.</summary>
    public int Count => Table->Count;

    /// <summary>The elements, by index in enumeration order.</summary>
    public T this[int index]
    {
        get
        {
            TableHeader* table = Table;
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, table->Count);
            return HashTable.KeyAt<T>(table, index, _lifetime);
        }
    }

    /// <summary>The string comparer the set was built with; <see langword="null"/> for unmanaged elements.</summary>
    public StringComparer? Comparer =>
        typeof(T) != typeof(ProtectedString) ? null : Table->IgnoreCase ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

    /// <summary>Is <paramref name="item"/> in the set? No lock, no allocation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Contains(T item) => HashTable.IndexOf(Table, item) >= 0;

    /// <summary>Finds the stored element equal to <paramref name="equalValue"/> (with an ignore-case set, its stored spelling).</summary>
    public bool TryGetValue(T equalValue, [MaybeNullWhen(false)] out T actualValue)
    {
        TableHeader* table = Table;
        int index = HashTable.IndexOf(table, equalValue);
        actualValue = index >= 0 ? HashTable.KeyAt<T>(table, index, _lifetime) : default;
        return index >= 0;
    }

    /// <summary>Is every element of this set in <paramref name="other"/>?</summary>
    public bool IsSubsetOf(IEnumerable<T> other) => SetRelations.IsSubsetOf(new Finder(Table), other);

    /// <summary>Is every element of this set in <paramref name="other"/>, which has more?</summary>
    public bool IsProperSubsetOf(IEnumerable<T> other) => SetRelations.IsProperSubsetOf(new Finder(Table), other);

    /// <summary>Is every element of <paramref name="other"/> in this set?</summary>
    public bool IsSupersetOf(IEnumerable<T> other) => SetRelations.IsSupersetOf(new Finder(Table), other);

    /// <summary>Is every element of <paramref name="other"/> in this set, which has more?</summary>
    public bool IsProperSupersetOf(IEnumerable<T> other) => SetRelations.IsProperSupersetOf(new Finder(Table), other);

    /// <summary>Do this set and <paramref name="other"/> share an element?</summary>
    public bool Overlaps(IEnumerable<T> other) => SetRelations.Overlaps(new Finder(Table), other);

    /// <summary>Do this set and <paramref name="other"/> hold the same elements (duplicates in <paramref name="other"/> aside)?</summary>
    public bool SetEquals(IEnumerable<T> other) => SetRelations.SetEquals(new Finder(Table), other);

    /// <summary>Enumerates the elements; a struct, so <c>foreach</c> over the set allocates nothing.</summary>
    public Enumerator GetEnumerator() => new(this);

    IEnumerator<T> IEnumerable<T>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Forgets the table and, if the set owns its pool, destroys the pool. A caller's pool is left alone. Calling it again does nothing.</summary>
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
    public override string ToString() => $"ProtectedSet<{typeof(T).Name}> in pool '{_pool.Name}'";

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

    /// <summary>The index of the string <paramref name="text"/> (the table must hold strings), or -1; the set's liveness is checked even for null (which is never found).</summary>
    internal int IndexOfText(string? text)
    {
        TableHeader* table = Table;
        return text is null ? -1 : HashTable.IndexOfString(table, text);
    }

    /// <summary>The set's table as <see cref="SetRelations"/> sees it (the table read once, its liveness checked then).</summary>
    private readonly struct Finder(TableHeader* table) : SetRelations.IFinder<T>
    {
        public int Count => table->Count;

        public int IndexOf(T item) => HashTable.IndexOf(table, item);
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowDisposed() => throw ThrowHelper.CollectionDisposed(ToString(), _pool.Name, "set");

    /// <summary>Enumerates the elements of a <see cref="ProtectedSet{T}"/>.</summary>
    public struct Enumerator : IEnumerator<T>
    {
        private readonly ProtectedSet<T> _set;
        private int _index;

        internal Enumerator(ProtectedSet<T> set)
        {
            _set = set;
            _index = -1;
        }

        /// <summary>The current element.</summary>
        public readonly T Current => HashTable.KeyAt<T>(_set.Table, _index, _set._lifetime);

        readonly object IEnumerator.Current => Current;

        /// <summary>Moves to the next element.</summary>
        public bool MoveNext() => ++_index < _set.Count;

        /// <summary>Starts over.</summary>
        public void Reset() => _index = -1;

        /// <summary>Does nothing.</summary>
        public readonly void Dispose()
        {
        }
    }
}
