using System.Collections;
using System.Diagnostics;

namespace Pmalloc;

/// <summary>
/// A <see cref="ProtectedSet{T}"/> of strings seen as an <see cref="IReadOnlySet{T}"/> of <see cref="string"/> (see
/// <see cref="ProtectedCollection.AsReadOnlySet(ProtectedSet{ProtectedString})"/>): no copy, the same table. Null is never
/// an element, so it is found nowhere and counts as an element the set lacks.
/// </summary>
[DebuggerDisplay("Count = {Count}")]
internal sealed class StringSetView : IReadOnlySet<string>
{
    private readonly ProtectedSet<ProtectedString> _set;

    internal StringSetView(ProtectedSet<ProtectedString> set) => _set = set;

    public int Count => _set.Count;

    public bool Contains(string item) => IndexOf(item) >= 0;

    public bool IsSubsetOf(IEnumerable<string> other) => Compare(other).Found == Count;

    public bool IsProperSubsetOf(IEnumerable<string> other)
    {
        (int found, bool extra) = Compare(other);
        return found == Count && extra;
    }

    public bool IsSupersetOf(IEnumerable<string> other) => !Compare(other).Extra;

    public bool IsProperSupersetOf(IEnumerable<string> other)
    {
        (int found, bool extra) = Compare(other);
        return !extra && found < Count;
    }

    public bool Overlaps(IEnumerable<string> other)
    {
        ArgumentNullException.ThrowIfNull(other);
        foreach (string item in other)
        {
            if (IndexOf(item) >= 0)
            {
                return true;
            }
        }

        return false;
    }

    public bool SetEquals(IEnumerable<string> other)
    {
        (int found, bool extra) = Compare(other);
        return found == Count && !extra;
    }

    public IEnumerator<string> GetEnumerator()
    {
        foreach (ProtectedString item in _set)
        {
            yield return item.ToString();
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"{_set} as IReadOnlySet<String>";

    private int IndexOf(string? item) => _set.IndexOfText(item);

    /// <summary>How many distinct elements of this set <paramref name="other"/> holds, and whether it holds any other (null included).</summary>
    private (int Found, bool Extra) Compare(IEnumerable<string> other)
    {
        ArgumentNullException.ThrowIfNull(other);
        bool[] seen = new bool[Count];
        int found = 0;
        bool extra = false;
        foreach (string item in other)
        {
            int index = IndexOf(item);
            if (index < 0)
            {
                extra = true;
            }
            else if (!seen[index])
            {
                seen[index] = true;
                found++;
            }
        }

        return (found, extra);
    }
}
