using System.Diagnostics.CodeAnalysis;

namespace Pmalloc;

/// <summary>
/// Builds <see cref="ProtectedDictionary{TKey, TValue}"/> and <see cref="ProtectedSet{T}"/> (the
/// <c>ToFrozenDictionary</c>/<c>ToFrozenSet</c> idiom), and looks them up by <see cref="ReadOnlySpan{T}"/> of <see cref="char"/>.
/// </summary>
/// <remarks>
/// <para><b>Where the data goes.</b> Without a pool argument, into a new <see cref="WriteOncePool"/> that the collection owns
/// (named by <see cref="PoolOptions.Name"/>, "protected-dictionary" or "protected-set" by default), protected before the
/// method returns and destroyed by the collection's <c>Dispose</c>. With a <see cref="ProtectablePool"/>, into that pool,
/// so that many collections (a whole policy) are protected, sealed and destroyed as one: the caller calls
/// <see cref="ProtectablePool.Protect"/> when everything is built, and disposes the pool. Do not free the table or roll
/// the pool back past the build (<see cref="ProtectablePool.RollbackTo"/> to a mark taken before it) while the collection
/// is in use: that returns its memory, as freeing any other allocation does.</para>
/// <para><b>Strings</b> become <see cref="ProtectedString"/> in the collection's type (a string cannot live in a pool).
/// String comparers: <see langword="null"/>, <see cref="StringComparer.Ordinal"/>, <see cref="EqualityComparer{T}.Default"/>
/// (ordinal), or <see cref="StringComparer.OrdinalIgnoreCase"/>.</para>
/// <para><b>Bad input</b> is found before anything is allocated, so the caller's pool is left exactly as it was:
/// a duplicate key throws <see cref="ArgumentException"/> naming the key, a null string key or value
/// <see cref="ArgumentNullException"/>. The table is one allocation, so a build that fails for lack of memory
/// changes nothing either.</para>
/// </remarks>
public static unsafe class ProtectedCollection
{
    private const string DictionaryPoolName = "protected-dictionary";
    private const string SetPoolName = "protected-set";

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

    /// <summary>Copies <paramref name="source"/> (string keys) into a new pool-owning dictionary, protected before it returns.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TValue>(this IEnumerable<KeyValuePair<string, TValue>> source)
        where TValue : unmanaged =>
        BuildDictionary<ProtectedString, TValue, string, TValue>(source, null, null, null);

    /// <summary>Copies <paramref name="source"/> (string keys) into a new pool-owning dictionary, protected before it returns, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TValue>(this IEnumerable<KeyValuePair<string, TValue>> source, IEqualityComparer<string>? comparer)
        where TValue : unmanaged =>
        BuildDictionary<ProtectedString, TValue, string, TValue>(source, null, null, comparer);

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

    /// <summary>Copies <paramref name="source"/> (string keys and values) into a new pool-owning dictionary, protected before it returns.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary(this IEnumerable<KeyValuePair<string, string>> source) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(source, null, null, null);

    /// <summary>Copies <paramref name="source"/> (string keys and values) into a new pool-owning dictionary, protected before it returns, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary(this IEnumerable<KeyValuePair<string, string>> source, IEqualityComparer<string>? comparer) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(source, null, null, comparer);

    /// <summary>Copies <paramref name="source"/> (string keys and values) into a new pool-owning dictionary, protected before it returns, in a pool made with <paramref name="options"/>, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary(this IEnumerable<KeyValuePair<string, string>> source, IEqualityComparer<string>? comparer, PoolOptions options) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(source, null, Required(options), comparer);

    /// <summary>Copies <paramref name="source"/> (string keys and values) into <paramref name="pool"/>; the caller protects and disposes the pool.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary(this IEnumerable<KeyValuePair<string, string>> source, ProtectablePool pool) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(source, Required(pool), null, null);

    /// <summary>Copies <paramref name="source"/> (string keys and values) into <paramref name="pool"/>; the caller protects and disposes the pool, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary(this IEnumerable<KeyValuePair<string, string>> source, ProtectablePool pool, IEqualityComparer<string>? comparer) =>
        BuildDictionary<ProtectedString, ProtectedString, string, string>(source, Required(pool), null, comparer);

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

    /// <summary>Copies the distinct strings of <paramref name="source"/> into a new pool-owning set, protected before it returns.</summary>
    public static ProtectedSet<ProtectedString> ToProtectedSet(this IEnumerable<string> source) =>
        BuildSet<ProtectedString, string>(source, null, null, null);

    /// <summary>Copies the distinct strings of <paramref name="source"/> into a new pool-owning set, protected before it returns, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedSet<ProtectedString> ToProtectedSet(this IEnumerable<string> source, IEqualityComparer<string>? comparer) =>
        BuildSet<ProtectedString, string>(source, null, null, comparer);

    /// <summary>Copies the distinct strings of <paramref name="source"/> into a new pool-owning set, protected before it returns, in a pool made with <paramref name="options"/>, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedSet<ProtectedString> ToProtectedSet(this IEnumerable<string> source, IEqualityComparer<string>? comparer, PoolOptions options) =>
        BuildSet<ProtectedString, string>(source, null, Required(options), comparer);

    /// <summary>Copies the distinct strings of <paramref name="source"/> into <paramref name="pool"/>; the caller protects and disposes the pool.</summary>
    public static ProtectedSet<ProtectedString> ToProtectedSet(this IEnumerable<string> source, ProtectablePool pool) =>
        BuildSet<ProtectedString, string>(source, Required(pool), null, null);

    /// <summary>Copies the distinct strings of <paramref name="source"/> into <paramref name="pool"/>; the caller protects and disposes the pool, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedSet<ProtectedString> ToProtectedSet(this IEnumerable<string> source, ProtectablePool pool, IEqualityComparer<string>? comparer) =>
        BuildSet<ProtectedString, string>(source, Required(pool), null, comparer);

    /// <summary>Projects <paramref name="source"/> to keys and values, as <c>ToFrozenDictionary</c> does, into a new pool-owning dictionary.</summary>
    public static ProtectedDictionary<TKey, TValue> ToProtectedDictionary<TSource, TKey, TValue>(this IEnumerable<TSource> source, Func<TSource, TKey> keySelector, Func<TSource, TValue> valueSelector)
        where TKey : unmanaged
        where TValue : unmanaged =>
        Project(source, keySelector, valueSelector).ToProtectedDictionary();

    /// <summary>Projects <paramref name="source"/> to string keys and values into a new pool-owning dictionary.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TSource, TValue>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, TValue> valueSelector)
        where TValue : unmanaged =>
        Project(source, keySelector, valueSelector).ToProtectedDictionary();

    /// <summary>Projects <paramref name="source"/> to string keys and values into a new pool-owning dictionary, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, TValue> ToProtectedDictionary<TSource, TValue>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, TValue> valueSelector, IEqualityComparer<string>? comparer)
        where TValue : unmanaged =>
        Project(source, keySelector, valueSelector).ToProtectedDictionary(comparer);

    /// <summary>Projects <paramref name="source"/> to keys and string values into a new pool-owning dictionary.</summary>
    public static ProtectedDictionary<TKey, ProtectedString> ToProtectedDictionary<TSource, TKey>(this IEnumerable<TSource> source, Func<TSource, TKey> keySelector, Func<TSource, string> valueSelector)
        where TKey : unmanaged =>
        Project(source, keySelector, valueSelector).ToProtectedDictionary();

    /// <summary>Projects <paramref name="source"/> to string keys and string values into a new pool-owning dictionary.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary<TSource>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, string> valueSelector) =>
        Project(source, keySelector, valueSelector).ToProtectedDictionary();

    /// <summary>Projects <paramref name="source"/> to string keys and string values into a new pool-owning dictionary, comparing keys with <paramref name="comparer"/>.</summary>
    public static ProtectedDictionary<ProtectedString, ProtectedString> ToProtectedDictionary<TSource>(this IEnumerable<TSource> source, Func<TSource, string> keySelector, Func<TSource, string> valueSelector, IEqualityComparer<string>? comparer) =>
        Project(source, keySelector, valueSelector).ToProtectedDictionary(comparer);

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

    private static ProtectedDictionary<TKey, TValue> BuildDictionary<TKey, TValue, TKeyIn, TValueIn>(
        IEnumerable<KeyValuePair<TKeyIn, TValueIn>> source, ProtectablePool? pool, PoolOptions? options, IEqualityComparer<string>? comparer)
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(source);
        bool ignoreCase = IsIgnoreCase(comparer);
        KeyValuePair<TKeyIn, TValueIn>[] entries = [.. source];
        int count = entries.Length;
        TKeyIn[] keys = new TKeyIn[count];
        TValueIn[] values = new TValueIn[count];
        for (int i = 0; i < count; i++)
        {
            (keys[i], values[i]) = entries[i];
        }

        string poolName = pool?.Name ?? options?.Name ?? DictionaryPoolName;
        CheckDistinct(keys, ignoreCase, poolName);
        if (values is string[] strings && Array.IndexOf(strings, null) is int missing and >= 0)
        {
            throw ThrowHelper.NullString(poolName, $"the value of key '{keys[missing]}' is null; a protected string cannot be null");
        }

        return Build(pool, options ?? new PoolOptions { Name = DictionaryPoolName }, (target, owns) =>
            new ProtectedDictionary<TKey, TValue>(target, owns, HashTable.Build(
                target,
                count,
                keys as TKey[],
                keys as string[],
                ignoreCase,
                values as TValue[],
                values as string[],
                hasValues: true)));
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
        return Build(pool, options ?? new PoolOptions { Name = SetPoolName }, (target, owns) =>
            new ProtectedSet<T>(target, owns, HashTable.Build<T, byte>(
                target,
                distinct.Length,
                distinct as T[],
                distinct as string[],
                ignoreCase,
                null,
                null,
                hasValues: false)));
    }

    /// <summary>Builds into the caller's pool, or into a new owned pool that is protected at the end (and destroyed if the build fails).</summary>
    private static TCollection Build<TCollection>(ProtectablePool? pool, PoolOptions options, Func<ProtectablePool, bool, TCollection> build)
    {
        if (pool is not null)
        {
            return build(pool, false);
        }

        WriteOncePool owned = new(options);
        try
        {
            TCollection collection = build(owned, true);
            owned.Protect();
            return collection;
        }
        catch
        {
            owned.Dispose();
            throw;
        }
    }

    /// <summary>Throws, before anything is allocated, if two keys are equal under the lookup's own equality.</summary>
    private static void CheckDistinct<TKeyIn>(TKeyIn[] keys, bool ignoreCase, string poolName)
    {
        if (keys is string[] strings)
        {
            HashSet<string> seen = new(strings.Length, ignoreCase ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
            foreach (string key in strings)
            {
                if (key is null)
                {
                    throw ThrowHelper.NullString(poolName, "a key is null; a protected dictionary's keys cannot be null");
                }

                if (!seen.Add(key))
                {
                    ThrowDuplicate(key, poolName);
                }
            }

            return;
        }

        HashSet<TKeyIn> unique = new(keys.Length);
        foreach (TKeyIn key in keys)
        {
            if (!unique.Add(key))
            {
                ThrowDuplicate(key, poolName);
            }
        }
    }

    [DoesNotReturn]
    private static void ThrowDuplicate<TKey>(TKey key, string poolName) => throw ThrowHelper.DuplicateKey(poolName, $"{key}");

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
