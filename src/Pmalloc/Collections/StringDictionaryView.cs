using System.Collections;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Pmalloc;

/// <summary>
/// A <see cref="ProtectedDictionary{TKey, TValue}"/> of string keys seen as an <see cref="IReadOnlyDictionary{TKey, TValue}"/>
/// of <see cref="string"/> keys (see <see cref="ProtectedCollection.AsReadOnlyDictionary{TValue}(ProtectedDictionary{ProtectedString, TValue})"/>):
/// no copy, the same table. <typeparamref name="TStored"/> is the dictionary's value type; <typeparamref name="TValue"/>
/// is the same unmanaged type, or <see cref="string"/> for <see cref="ProtectedString"/> values (copied out as they are read).
/// </summary>
[DebuggerDisplay("Count = {Count}")]
internal sealed class StringDictionaryView<TStored, TValue> : IReadOnlyDictionary<string, TValue>
{
    private readonly ProtectedDictionary<ProtectedString, TStored> _dictionary;

    internal StringDictionaryView(ProtectedDictionary<ProtectedString, TStored> dictionary)
    {
        Debug.Assert(typeof(TStored) == typeof(TValue) || (typeof(TStored) == typeof(ProtectedString) && typeof(TValue) == typeof(string)));
        _dictionary = dictionary;
    }

    public int Count => _dictionary.Count;

    public IEnumerable<string> Keys => new KeyList(_dictionary);

    public IEnumerable<TValue> Values => new ValueList(_dictionary);

    public TValue this[string key]
    {
        get
        {
            ArgumentNullException.ThrowIfNull(key);
            return Out(_dictionary[key]);
        }
    }

    public bool ContainsKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _dictionary.ContainsKey(key);
    }

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out TValue value)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (_dictionary.TryGetValue(key, out TStored? stored))
        {
            value = Out(stored);
            return true;
        }

        value = default;
        return false;
    }

    public IEnumerator<KeyValuePair<string, TValue>> GetEnumerator()
    {
        foreach (KeyValuePair<ProtectedString, TStored> entry in _dictionary)
        {
            yield return new(entry.Key.ToString(), Out(entry.Value));
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"{_dictionary} as IReadOnlyDictionary<String, {typeof(TValue).Name}>";

    /// <summary>A stored value as the view hands it out: itself, or a string copied out of the pool.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TValue Out(TStored stored)
    {
        if (typeof(TStored) == typeof(ProtectedString))
        {
            return (TValue)(object)Unsafe.As<TStored, ProtectedString>(ref stored).ToString();
        }

        return Unsafe.As<TStored, TValue>(ref stored);
    }

    /// <summary>The keys as strings, by index in enumeration order.</summary>
    private sealed class KeyList(ProtectedDictionary<ProtectedString, TStored> dictionary) : IReadOnlyList<string>
    {
        public int Count => dictionary.Count;

        public string this[int index] => dictionary.Keys[index].ToString();

        public IEnumerator<string> GetEnumerator()
        {
            foreach (ProtectedString key in dictionary.Keys)
            {
                yield return key.ToString();
            }
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>The values as the view hands them out, by index in enumeration order.</summary>
    private sealed class ValueList(ProtectedDictionary<ProtectedString, TStored> dictionary) : IReadOnlyList<TValue>
    {
        public int Count => dictionary.Count;

        public TValue this[int index] => Out(dictionary.Values[index]);

        public IEnumerator<TValue> GetEnumerator()
        {
            foreach (TStored value in dictionary.Values)
            {
                yield return Out(value);
            }
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
