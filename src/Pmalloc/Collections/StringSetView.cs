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

    public bool IsSubsetOf(IEnumerable<string> other) => SetRelations.IsSubsetOf(new Finder(_set), other);

    public bool IsProperSubsetOf(IEnumerable<string> other) => SetRelations.IsProperSubsetOf(new Finder(_set), other);

    public bool IsSupersetOf(IEnumerable<string> other) => SetRelations.IsSupersetOf(new Finder(_set), other);

    public bool IsProperSupersetOf(IEnumerable<string> other) => SetRelations.IsProperSupersetOf(new Finder(_set), other);

    public bool Overlaps(IEnumerable<string> other) => SetRelations.Overlaps(new Finder(_set), other);

    public bool SetEquals(IEnumerable<string> other) => SetRelations.SetEquals(new Finder(_set), other);

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

    /// <summary>The set's strings as <see cref="SetRelations"/> sees them: null is in no set, so it counts as an element the set lacks.</summary>
    private readonly struct Finder(ProtectedSet<ProtectedString> set) : SetRelations.IFinder<string>
    {
        public int Count => set.Count;

        public int IndexOf(string item) => set.IndexOfText(item);
    }
}
