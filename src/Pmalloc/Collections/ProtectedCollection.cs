using System.Diagnostics.CodeAnalysis;

namespace Pmalloc;

/// <summary>
/// Builds <see cref="ProtectedDictionary{TKey, TValue}"/> and <see cref="ProtectedSet{T}"/> (the
/// <c>ToFrozenDictionary</c>/<c>ToFrozenSet</c> idiom), looks them up by <see cref="ReadOnlySpan{T}"/> of <see cref="char"/>,
/// and views those of strings as the <see cref="IReadOnlyDictionary{TKey, TValue}"/> and <see cref="IReadOnlySet{T}"/> of
/// <see cref="string"/> that .NET code expects.
/// </summary>
/// <remarks>
/// <para><b>Where the data goes.</b> With neither a pool nor options, into a new <see cref="WriteOncePool"/> that the
/// collection owns, named "protected-dictionary" or "protected-set"; with <see cref="PoolOptions"/>, into a new owned pool
/// made with them (its name is the one errors give). The owned pool is protected before the method returns and
/// destroyed by the collection's <c>Dispose</c>. With a <see cref="ProtectablePool"/>, into that pool, so that many
/// collections (a whole policy) are protected, sealed and destroyed as one: the caller calls
/// <see cref="ProtectablePool.Protect"/> when everything is built, and disposes the pool. Do not free the table or roll
/// the pool back past the build (<see cref="ProtectablePool.RollbackTo"/> to a mark taken before it) while the collection
/// is in use: that returns its memory, as freeing any other allocation does. Every overload, the selector ones included,
/// comes in the three forms.</para>
/// <para><b>Strings</b> become <see cref="ProtectedString"/> in the collection's type (a string cannot live in a pool).
/// String comparers: <see langword="null"/>, <see cref="StringComparer.Ordinal"/>, <see cref="EqualityComparer{T}.Default"/>
/// (ordinal), or <see cref="StringComparer.OrdinalIgnoreCase"/>. Keys and values are unmanaged types or strings; the
/// overloads for strings come first, so that a source of another type gets a compiler error that names that type.</para>
/// <para><b>Bad input</b> is found before anything is allocated, so the caller's pool is left exactly as it was:
/// a duplicate key throws <see cref="ArgumentException"/> naming the key, a null string key or value
/// <see cref="ArgumentNullException"/>. The table is one allocation, so a build that fails for lack of memory
/// changes nothing either.</para>
/// </remarks>
public static unsafe class ProtectedCollection
{
    private const string DictionaryPoolName = "protected-dictionary";
    private const string SetPoolName = "protected-set";

    /// <summary>
    /// The dictionary as an <see cref="IReadOnlyDictionary{TKey, TValue}"/> of <see cref="string"/> keys, for code that
    /// takes one (or a <c>FrozenDictionary&lt;string, TValue&gt;</c>'s interfaces); no copy: it reads the same table.
    /// </summary>
    /// <remarks>
    /// Lookups (the indexer, <c>TryGetValue</c>, <c>ContainsKey</c>) allocate nothing; <c>Keys</c> and the enumeration
    /// allocate the key strings they hand out. The view lives as long as the dictionary: after the dictionary is disposed,
    /// every member throws <see cref="ObjectDisposedException"/>. A null key throws <see cref="ArgumentNullException"/>, as
    /// in <c>FrozenDictionary</c>. System.Text.Json writes it as a JSON object, as it writes the <c>FrozenDictionary</c> it
    /// replaces.
    /// </remarks>
    public static IReadOnlyDictionary<string, TValue> AsReadOnlyDictionary<TValue>(this ProtectedDictionary<ProtectedString, TValue> dictionary)
        where TValue : unmanaged =>
        new StringDictionaryView<TValue, TValue>(Required(dictionary));

    /// <summary>
    /// The dictionary as an <see cref="IReadOnlyDictionary{TKey, TValue}"/> of <see cref="string"/> keys and values; no copy:
    /// it reads the same table.
    /// </summary>
    /// <remarks>
    /// Key lookups allocate nothing, but each value handed out is a new <see cref="string"/> (copied out of the pool, so it
    /// outlives the dictionary); so are the keys of <c>Keys</c> and of the enumeration. To read values without copying,
    /// use the dictionary itself. Otherwise as <see cref="AsReadOnlyDictionary{TValue}(ProtectedDictionary{ProtectedString, TValue})"/>.
    /// </remarks>
    public static IReadOnlyDictionary<string, string> AsReadOnlyDictionary(this ProtectedDictionary<ProtectedString, ProtectedString> dictionary) =>
        new StringDictionaryView<ProtectedString, string>(Required(dictionary));

    /// <summary>
    /// The set as an <see cref="IReadOnlySet{T}"/> of <see cref="string"/>, for code that takes one; no copy: it reads the
    /// same table.
    /// </summary>
    /// <remarks>
    /// <c>Contains</c> allocates nothing (null is never an element); the enumeration allocates the strings it hands out, and
    /// the set operations allocate as the set's own do. It lives as long as the set. System.Text.Json writes it as a JSON
    /// array, as it writes a <c>FrozenSet</c>.
    /// </remarks>
    public static IReadOnlySet<string> AsReadOnlySet(this ProtectedSet<ProtectedString> set) =>
        new StringSetView(Required(set));

    /// <summary>Looks up a string key by span, without allocating.</summary>
    public static bool TryGetValue<TValue>(this ProtectedDictionary<ProtectedString, TValue> dictionary, ReadOnlySpan<char> key, [MaybeNullWhen(false)] out TValue value)
    {
        ArgumentNullException.ThrowIfNull(dictionary);
        return dictionary.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(key, out value);
    }

    /// <summary>Is the string <paramref name="key"/> in the dictionary? By span, without allocating.</summary>
    public static bool ContainsKey<TValue>(this ProtectedDictionary<ProtectedString, TValue> dictionary, ReadOnlySpan<char> key)
    {
        ArgumentNullException.ThrowIfNull(dictionary);
        return HashTable.IndexOfString(dictionary.Table, key) >= 0;
    }

    /// <summary>Is the string <paramref name="item"/> in the set? By span, without allocating.</summary>
    public static bool Contains(this ProtectedSet<ProtectedString> set, ReadOnlySpan<char> item)
    {
        ArgumentNullException.ThrowIfNull(set);
        return HashTable.IndexOfString(set.Table, item) >= 0;
    }

    /// <summary>Copies <paramref name="source"/> (string keys) into a new pool-owning dictionary, protected before it returns.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TValue>(this IEnumerable<KeyValuePair<string, TValue>> source)
        where TValue : unmanaged =>
        BuildDictionary<ProtectedString, TValue, string, TValue>(source, null, null, null);

    /// <summary>Copies <paramref name="source"/> (string keys) into a new pool-owning dictionary, protected before it returns, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TValue>(this IEnumerable<KeyValuePair<string, TValue>> source, IEqualityComparer<string>? comparer)
        where TValue : unmanaged =>
        BuildDictionary<ProtectedString, TValue, string, TValue>(source, null, null, comparer);

    /// <summary>Copies <paramref name="source"/> (string keys) into a new pool-owning dictionary, protected before it returns, in a pool made with <paramref name="options"/>.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TValue>(this IEnumerable<KeyValuePair<string, TValue>> source, PoolOptions options)
        where TValue : unmanaged =>
        BuildDictionary<ProtectedString, TValue, string, TValue>(source, null, Required(options), null);

    /// <summary>Copies <paramref name="source"/> (string keys) into a new pool-owning dictionary, protected before it returns, in a pool made with <paramref name="options"/>, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TValue>(this IEnumerable<KeyValuePair<string, TValue>> source, IEqualityComparer<string>? comparer, PoolOptions options)
        where TValue : unmanaged =>
        BuildDictionary<ProtectedString, TValue, string, TValue>(source, null, Required(options), comparer);

    /// <summary>Copies <paramref name="source"/> (string keys) into <paramref name="pool"/>; the caller protects and disposes the pool.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TValue>(this IEnumerable<KeyValuePair<string, TValue>> source, ProtectablePool pool)
        where TValue : unmanaged =>
        BuildDictionary<ProtectedString, TValue, string, TValue>(source, Required(pool), null, null);

    /// <summary>Copies <paramref name="source"/> (string keys) into <paramref name="pool"/>; the caller protects and disposes the pool, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TValue>(this IEnumerable<KeyValuePair<string, TValue>> source, ProtectablePool pool, IEqualityComparer<string>? comparer)
        where TValue : unmanaged =>
        BuildDictionary<ProtectedString, TValue, string, TValue>(source, Required(pool), null, comparer);

    /// <summary>Copies <paramref name="source"/> (string keys and values) into a new pool-owning dictionary, protected before it returns.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary(this IEnumerable<KeyValuePair<string, string>> source) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(source, null, null, null);

    /// <summary>Copies <paramref name="source"/> (string keys and values) into a new pool-owning dictionary, protected before it returns, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary(this IEnumerable<KeyValuePair<string, string>> source, IEqualityComparer<string>? comparer) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(source, null, null, comparer);

    /// <summary>Copies <paramref name="source"/> (string keys and values) into a new pool-owning dictionary, protected before it returns, in a pool made with <paramref name="options"/>.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary(this IEnumerable<KeyValuePair<string, string>> source, PoolOptions options) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(source, null, Required(options), null);

    /// <summary>Copies <paramref name="source"/> (string keys and values) into a new pool-owning dictionary, protected before it returns, in a pool made with <paramref name="options"/>, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary(this IEnumerable<KeyValuePair<string, string>> source, IEqualityComparer<string>? comparer, PoolOptions options) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(source, null, Required(options), comparer);

    /// <summary>Copies <paramref name="source"/> (string keys and values) into <paramref name="pool"/>; the caller protects and disposes the pool.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary(this IEnumerable<KeyValuePair<string, string>> source, ProtectablePool pool) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(source, Required(pool), null, null);

    /// <summary>Copies <paramref name="source"/> (string keys and values) into <paramref name="pool"/>; the caller protects and disposes the pool, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary(this IEnumerable<KeyValuePair<string, string>> source, ProtectablePool pool, IEqualityComparer<string>? comparer) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(source, Required(pool), null, comparer);

    /// <summary>Copies <paramref name="source"/> (string values) into a new pool-owning dictionary, protected before it returns.</summary>
    public static ProtectedDictionary<TKey, ProtectedString> ToProtectedDictionary<TKey>(this IEnumerable<KeyValuePair<TKey, string>> source)
        where TKey : unmanaged =>
        BuildDictionary<TKey, ProtectedString, TKey, string>(source, null, null, null);

    /// <summary>Copies <paramref name="source"/> (string values) into a new pool-owning dictionary, protected before it returns, in a pool made with <paramref name="options"/>.</summary>
    public static ProtectedDictionary<TKey, ProtectedString> ToProtectedDictionary<TKey>(this IEnumerable<KeyValuePair<TKey, string>> source, PoolOptions options)
        where TKey : unmanaged =>
        BuildDictionary<TKey, ProtectedString, TKey, string>(source, null, Required(options), null);

    /// <summary>Copies <paramref name="source"/> (string values) into <paramref name="pool"/>; the caller protects and disposes the pool.</summary>
    public static ProtectedDictionary<TKey, ProtectedString> ToProtectedDictionary<TKey>(this IEnumerable<KeyValuePair<TKey, string>> source, ProtectablePool pool)
        where TKey : unmanaged =>
        BuildDictionary<TKey, ProtectedString, TKey, string>(source, Required(pool), null, null);

    /// <summary>Copies <paramref name="source"/> into a new pool-owning dictionary, protected before it returns.</summary>
    public static ProtectedDictionary<TKey, TValue> ToProtectedDictionary<TKey, TValue>(this IEnumerable<KeyValuePair<TKey, TValue>> source)
        where TKey : unmanaged
        where TValue : unmanaged =>
        BuildDictionary<TKey, TValue, TKey, TValue>(source, null, null, null);

    /// <summary>Copies <paramref name="source"/> into a new pool-owning dictionary, protected before it returns, in a pool made with <paramref name="options"/>.</summary>
    public static ProtectedDictionary<TKey, TValue> ToProtectedDictionary<TKey, TValue>(this IEnumerable<KeyValuePair<TKey, TValue>> source, PoolOptions options)
        where TKey : unmanaged
        where TValue : unmanaged =>
        BuildDictionary<TKey, TValue, TKey, TValue>(source, null, Required(options), null);

    /// <summary>Copies <paramref name="source"/> into <paramref name="pool"/>; the caller protects and disposes the pool.</summary>
    public static ProtectedDictionary<TKey, TValue> ToProtectedDictionary<TKey, TValue>(this IEnumerable<KeyValuePair<TKey, TValue>> source, ProtectablePool pool)
        where TKey : unmanaged
        where TValue : unmanaged =>
        BuildDictionary<TKey, TValue, TKey, TValue>(source, Required(pool), null, null);

    /// <summary>Projects <paramref name="source"/> to string keys and values, as <c>ToFrozenDictionary</c> does, into a new pool-owning dictionary, protected before it returns.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TSource, TValue>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, TValue> valueSelector)
        where TValue : unmanaged =>
        BuildDictionary<ProtectedString, TValue, string, TValue>(Project(source, keySelector, valueSelector), null, null, null);

    /// <summary>Projects <paramref name="source"/> to string keys and values, as <c>ToFrozenDictionary</c> does, into a new pool-owning dictionary, protected before it returns, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TSource, TValue>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, TValue> valueSelector, IEqualityComparer<string>? comparer)
        where TValue : unmanaged =>
        BuildDictionary<ProtectedString, TValue, string, TValue>(Project(source, keySelector, valueSelector), null, null, comparer);

    /// <summary>Projects <paramref name="source"/> to string keys and values, as <c>ToFrozenDictionary</c> does, into a new pool-owning dictionary, protected before it returns, in a pool made with <paramref name="options"/>.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TSource, TValue>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, TValue> valueSelector, PoolOptions options)
        where TValue : unmanaged =>
        BuildDictionary<ProtectedString, TValue, string, TValue>(Project(source, keySelector, valueSelector), null, Required(options), null);

    /// <summary>Projects <paramref name="source"/> to string keys and values, as <c>ToFrozenDictionary</c> does, into a new pool-owning dictionary, protected before it returns, in a pool made with <paramref name="options"/>, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TSource, TValue>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, TValue> valueSelector, IEqualityComparer<string>? comparer, PoolOptions options)
        where TValue : unmanaged =>
        BuildDictionary<ProtectedString, TValue, string, TValue>(Project(source, keySelector, valueSelector), null, Required(options), comparer);

    /// <summary>Projects <paramref name="source"/> to string keys and values, as <c>ToFrozenDictionary</c> does, into <paramref name="pool"/>; the caller protects and disposes the pool.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TSource, TValue>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, TValue> valueSelector, ProtectablePool pool)
        where TValue : unmanaged =>
        BuildDictionary<ProtectedString, TValue, string, TValue>(Project(source, keySelector, valueSelector), Required(pool), null, null);

    /// <summary>Projects <paramref name="source"/> to string keys and values, as <c>ToFrozenDictionary</c> does, into <paramref name="pool"/>; the caller protects and disposes the pool, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TSource, TValue>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, TValue> valueSelector, ProtectablePool pool, IEqualityComparer<string>? comparer)
        where TValue : unmanaged =>
        BuildDictionary<ProtectedString, TValue, string, TValue>(Project(source, keySelector, valueSelector), Required(pool), null, comparer);

    /// <summary>Projects <paramref name="source"/> to string keys and string values, as <c>ToFrozenDictionary</c> does, into a new pool-owning dictionary, protected before it returns.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary<TSource>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, string> valueSelector) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(Project(source, keySelector, valueSelector), null, null, null);

    /// <summary>Projects <paramref name="source"/> to string keys and string values, as <c>ToFrozenDictionary</c> does, into a new pool-owning dictionary, protected before it returns, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary<TSource>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, string> valueSelector, IEqualityComparer<string>? comparer) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(Project(source, keySelector, valueSelector), null, null, comparer);

    /// <summary>Projects <paramref name="source"/> to string keys and string values, as <c>ToFrozenDictionary</c> does, into a new pool-owning dictionary, protected before it returns, in a pool made with <paramref name="options"/>.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary<TSource>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, string> valueSelector, PoolOptions options) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(Project(source, keySelector, valueSelector), null, Required(options), null);

    /// <summary>Projects <paramref name="source"/> to string keys and string values, as <c>ToFrozenDictionary</c> does, into a new pool-owning dictionary, protected before it returns, in a pool made with <paramref name="options"/>, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary<TSource>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, string> valueSelector, IEqualityComparer<string>? comparer, PoolOptions options) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(Project(source, keySelector, valueSelector), null, Required(options), comparer);

    /// <summary>Projects <paramref name="source"/> to string keys and string values, as <c>ToFrozenDictionary</c> does, into <paramref name="pool"/>; the caller protects and disposes the pool.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary<TSource>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, string> valueSelector, ProtectablePool pool) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(Project(source, keySelector, valueSelector), Required(pool), null, null);

    /// <summary>Projects <paramref name="source"/> to string keys and string values, as <c>ToFrozenDictionary</c> does, into <paramref name="pool"/>; the caller protects and disposes the pool, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary<TSource>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, string> valueSelector, ProtectablePool pool, IEqualityComparer<string>? comparer) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(Project(source, keySelector, valueSelector), Required(pool), null, comparer);

    /// <summary>Projects <paramref name="source"/> to keys and string values, as <c>ToFrozenDictionary</c> does, into a new pool-owning dictionary, protected before it returns.</summary>
    public static ProtectedDictionary<TKey, ProtectedString> ToProtectedDictionary<TSource, TKey>(this IEnumerable<TSource> source, Func<TSource, TKey> keySelector, Func<TSource, string> valueSelector)
        where TKey : unmanaged =>
        BuildDictionary<TKey, ProtectedString, TKey, string>(Project(source, keySelector, valueSelector), null, null, null);

    /// <summary>Projects <paramref name="source"/> to keys and string values, as <c>ToFrozenDictionary</c> does, into a new pool-owning dictionary, protected before it returns, in a pool made with <paramref name="options"/>.</summary>
    public static ProtectedDictionary<TKey, ProtectedString> ToProtectedDictionary<TSource, TKey>(this IEnumerable<TSource> source, Func<TSource, TKey> keySelector, Func<TSource, string> valueSelector, PoolOptions options)
        where TKey : unmanaged =>
        BuildDictionary<TKey, ProtectedString, TKey, string>(Project(source, keySelector, valueSelector), null, Required(options), null);

    /// <summary>Projects <paramref name="source"/> to keys and string values, as <c>ToFrozenDictionary</c> does, into <paramref name="pool"/>; the caller protects and disposes the pool.</summary>
    public static ProtectedDictionary<TKey, ProtectedString> ToProtectedDictionary<TSource, TKey>(this IEnumerable<TSource> source, Func<TSource, TKey> keySelector, Func<TSource, string> valueSelector, ProtectablePool pool)
        where TKey : unmanaged =>
        BuildDictionary<TKey, ProtectedString, TKey, string>(Project(source, keySelector, valueSelector), Required(pool), null, null);

    /// <summary>Projects <paramref name="source"/> to keys and values, as <c>ToFrozenDictionary</c> does, into a new pool-owning dictionary, protected before it returns.</summary>
    public static ProtectedDictionary<TKey, TValue> ToProtectedDictionary<TSource, TKey, TValue>(this IEnumerable<TSource> source, Func<TSource, TKey> keySelector, Func<TSource, TValue> valueSelector)
        where TKey : unmanaged
        where TValue : unmanaged =>
        BuildDictionary<TKey, TValue, TKey, TValue>(Project(source, keySelector, valueSelector), null, null, null);

    /// <summary>Projects <paramref name="source"/> to keys and values, as <c>ToFrozenDictionary</c> does, into a new pool-owning dictionary, protected before it returns, in a pool made with <paramref name="options"/>.</summary>
    public static ProtectedDictionary<TKey, TValue> ToProtectedDictionary<TSource, TKey, TValue>(this IEnumerable<TSource> source, Func<TSource, TKey> keySelector, Func<TSource, TValue> valueSelector, PoolOptions options)
        where TKey : unmanaged
        where TValue : unmanaged =>
        BuildDictionary<TKey, TValue, TKey, TValue>(Project(source, keySelector, valueSelector), null, Required(options), null);

    /// <summary>Projects <paramref name="source"/> to keys and values, as <c>ToFrozenDictionary</c> does, into <paramref name="pool"/>; the caller protects and disposes the pool.</summary>
    public static ProtectedDictionary<TKey, TValue> ToProtectedDictionary<TSource, TKey, TValue>(this IEnumerable<TSource> source, Func<TSource, TKey> keySelector, Func<TSource, TValue> valueSelector, ProtectablePool pool)
        where TKey : unmanaged
        where TValue : unmanaged =>
        BuildDictionary<TKey, TValue, TKey, TValue>(Project(source, keySelector, valueSelector), Required(pool), null, null);

    /// <summary>Copies the distinct strings of <paramref name="source"/> into a new pool-owning set, protected before it returns.</summary>
    public static ProtectedSet<ProtectedString> ToProtectedSet(this IEnumerable<string> source) =>
        BuildSet<ProtectedString, string>(source, null, null, null);

    /// <summary>Copies the distinct strings of <paramref name="source"/> into a new pool-owning set, protected before it returns, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedSet<ProtectedString> ToProtectedSet(this IEnumerable<string> source, IEqualityComparer<string>? comparer) =>
        BuildSet<ProtectedString, string>(source, null, null, comparer);

    /// <summary>Copies the distinct strings of <paramref name="source"/> into a new pool-owning set, protected before it returns, in a pool made with <paramref name="options"/>.</summary>
    public static ProtectedSet<ProtectedString> ToProtectedSet(this IEnumerable<string> source, PoolOptions options) =>
        BuildSet<ProtectedString, string>(source, null, Required(options), null);

    /// <summary>Copies the distinct strings of <paramref name="source"/> into a new pool-owning set, protected before it returns, in a pool made with <paramref name="options"/>, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedSet<ProtectedString> ToProtectedSet(this IEnumerable<string> source, IEqualityComparer<string>? comparer, PoolOptions options) =>
        BuildSet<ProtectedString, string>(source, null, Required(options), comparer);

    /// <summary>Copies the distinct strings of <paramref name="source"/> into <paramref name="pool"/>; the caller protects and disposes the pool.</summary>
    public static ProtectedSet<ProtectedString> ToProtectedSet(this IEnumerable<string> source, ProtectablePool pool) =>
        BuildSet<ProtectedString, string>(source, Required(pool), null, null);

    /// <summary>Copies the distinct strings of <paramref name="source"/> into <paramref name="pool"/>; the caller protects and disposes the pool, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedSet<ProtectedString> ToProtectedSet(this IEnumerable<string> source, ProtectablePool pool, IEqualityComparer<string>? comparer) =>
        BuildSet<ProtectedString, string>(source, Required(pool), null, comparer);

    /// <summary>Copies the distinct elements of <paramref name="source"/> into a new pool-owning set, protected before it returns.</summary>
    public static ProtectedSet<T> ToProtectedSet<T>(this IEnumerable<T> source)
        where T : unmanaged =>
        BuildSet<T, T>(source, null, null, null);

    /// <summary>Copies the distinct elements of <paramref name="source"/> into a new pool-owning set, protected before it returns, in a pool made with <paramref name="options"/>.</summary>
    public static ProtectedSet<T> ToProtectedSet<T>(this IEnumerable<T> source, PoolOptions options)
        where T : unmanaged =>
        BuildSet<T, T>(source, null, Required(options), null);

    /// <summary>Copies the distinct elements of <paramref name="source"/> into <paramref name="pool"/>; the caller protects and disposes the pool.</summary>
    public static ProtectedSet<T> ToProtectedSet<T>(this IEnumerable<T> source, ProtectablePool pool)
        where T : unmanaged =>
        BuildSet<T, T>(source, Required(pool), null, null);

    private static ProtectedDictionary<TKey, TValue> BuildDictionary<TKey, TValue, TKeyIn, TValueIn>(
        IEnumerable<KeyValuePair<TKeyIn, TValueIn>> source, ProtectablePool? pool, PoolOptions? options, IEqualityComparer<string>? comparer)
        where TKey : notnull
        where TKeyIn : notnull
    {
        ArgumentNullException.ThrowIfNull(source);
        bool ignoreCase = IsIgnoreCase(comparer);
        (TKeyIn[] keys, TValueIn[] values) = Split(source);
        string poolName = pool?.Name ?? options?.Name ?? DictionaryPoolName;
        if (keys is string[] stringKeys && Array.IndexOf(stringKeys, null) >= 0)
        {
            throw ThrowHelper.NullString(poolName, "a key is null; a protected dictionary's keys cannot be null");
        }

        if (values is string[] strings && Array.IndexOf(strings, null) is int missing and >= 0)
        {
            throw ThrowHelper.NullString(poolName, $"the value of key '{keys[missing]}' is null; a protected string cannot be null");
        }

        return Build(pool, options ?? new PoolOptions { Name = DictionaryPoolName }, "dictionary", (target, owns, lifetime) =>
            new ProtectedDictionary<TKey, TValue>(target, owns, lifetime, HashTableBuilder.Build(
                target,
                keys as TKey[],
                keys as string[],
                ignoreCase,
                values as TValue[],
                values as string[],
                hasValues: true,
                checkDistinct: true)));
    }

    private static ProtectedSet<T> BuildSet<T, TIn>(IEnumerable<TIn> source, ProtectablePool? pool, PoolOptions? options, IEqualityComparer<string>? comparer)
        where T : notnull
    {
        ArgumentNullException.ThrowIfNull(source);
        bool ignoreCase = IsIgnoreCase(comparer);
        TIn[] items = [.. source];
        if (items is string[] strings && Array.IndexOf(strings, null) >= 0)
        {
            throw ThrowHelper.NullString(pool?.Name ?? options?.Name ?? SetPoolName, "the source holds a null string; a protected string cannot be null");
        }

        // Duplicates are dropped, as ToFrozenSet does; the first spelling wins under ignore-case.
        TIn[] distinct = items is string[] texts
            ? (TIn[])(object)texts.Distinct(ignoreCase ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal).ToArray()
            : [.. items.Distinct()];
        return Build(pool, options ?? new PoolOptions { Name = SetPoolName }, "set", (target, owns, lifetime) =>
            new ProtectedSet<T>(target, owns, lifetime, HashTableBuilder.Build<T, byte>(
                target,
                distinct as T[],
                distinct as string[],
                ignoreCase,
                null,
                null,
                hasValues: false,
                checkDistinct: false)));
    }

    /// <summary>Builds into the caller's pool, or into a new owned pool that is protected at the end (and destroyed if the build fails).</summary>
    private static TCollection Build<TCollection>(ProtectablePool? pool, PoolOptions options, string kind, Func<ProtectablePool, bool, TableLifetime, TCollection> build)
    {
        if (pool is not null)
        {
            return build(pool, false, new TableLifetime(pool, kind));
        }

        WriteOncePool owned = new(options);
        try
        {
            TCollection collection = build(owned, true, new TableLifetime(owned, kind));
            owned.Protect();
            return collection;
        }
        catch
        {
            owned.Dispose();
            throw;
        }
    }

    /// <summary>The keys and the values of <paramref name="source"/>, in its order, each in an array of its own.</summary>
    private static (TKey[] Keys, TValue[] Values) Split<TKey, TValue>(IEnumerable<KeyValuePair<TKey, TValue>> source)
        where TKey : notnull
    {
        if (source is Dictionary<TKey, TValue> dictionary)
        {
            // The common source: its struct enumerator, and no array of pairs in between.
            TKey[] keys = new TKey[dictionary.Count];
            TValue[] values = new TValue[keys.Length];
            int i = 0;
            foreach (KeyValuePair<TKey, TValue> entry in dictionary)
            {
                (keys[i], values[i]) = entry;
                i++;
            }

            return (keys, values);
        }

        KeyValuePair<TKey, TValue>[] entries = [.. source];
        TKey[] k = new TKey[entries.Length];
        TValue[] v = new TValue[entries.Length];
        for (int i = 0; i < entries.Length; i++)
        {
            (k[i], v[i]) = entries[i];
        }

        return (k, v);
    }

    private static bool IsIgnoreCase(IEqualityComparer<string>? comparer)
    {
        if (comparer is null || ReferenceEquals(comparer, StringComparer.Ordinal) || ReferenceEquals(comparer, EqualityComparer<string>.Default))
        {
            return false;
        }

        if (ReferenceEquals(comparer, StringComparer.OrdinalIgnoreCase))
        {
            return true;
        }

        throw ThrowHelper.UnsupportedComparer(comparer);
    }

    private static IEnumerable<KeyValuePair<TKey, TValue>> Project<TSource, TKey, TValue>(IEnumerable<TSource> source, Func<TSource, TKey> keySelector, Func<TSource, TValue> valueSelector)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(keySelector);
        ArgumentNullException.ThrowIfNull(valueSelector);
        return source.Select(item => KeyValuePair.Create(keySelector(item), valueSelector(item)));
    }

    private static T Required<T>(T argument, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(argument))] string? name = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(argument, name);
        return argument;
    }
}
