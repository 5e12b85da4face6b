namespace Pmalloc;

/// <summary>
/// The set relations of <see cref="IReadOnlySet{T}"/> over a set that can tell the index of an element (or -1), written
/// once for <see cref="ProtectedSet{T}"/> and for its view as strings (<see cref="StringSetView"/>). The finder is a
/// struct, so each set's lookup is called directly, not through a delegate.
/// </summary>
internal static class SetRelations
{
    /// <summary>Finds an element's index in a set of <see cref="Count"/> elements, or -1.</summary>
    internal interface IFinder<in TItem>
    {
        int Count { get; }

        int IndexOf(TItem item);
    }

    internal static bool IsSubsetOf<TItem, TFinder>(TFinder set, IEnumerable<TItem> other)
        where TFinder : struct, IFinder<TItem> => Compare(set, other).Found == set.Count;

    internal static bool IsProperSubsetOf<TItem, TFinder>(TFinder set, IEnumerable<TItem> other)
        where TFinder : struct, IFinder<TItem>
    {
        (int found, bool extra) = Compare(set, other);
        return found == set.Count && extra;
    }

    internal static bool IsSupersetOf<TItem, TFinder>(TFinder set, IEnumerable<TItem> other)
        where TFinder : struct, IFinder<TItem> => !Compare(set, other).Extra;

    internal static bool IsProperSupersetOf<TItem, TFinder>(TFinder set, IEnumerable<TItem> other)
        where TFinder : struct, IFinder<TItem>
    {
        (int found, bool extra) = Compare(set, other);
        return !extra && found < set.Count;
    }

    internal static bool Overlaps<TItem, TFinder>(TFinder set, IEnumerable<TItem> other)
        where TFinder : struct, IFinder<TItem>
    {
        ArgumentNullException.ThrowIfNull(other);
        foreach (TItem item in other)
        {
            if (set.IndexOf(item) >= 0)
            {
                return true;
            }
        }

        return false;
    }

    internal static bool SetEquals<TItem, TFinder>(TFinder set, IEnumerable<TItem> other)
        where TFinder : struct, IFinder<TItem>
    {
        (int found, bool extra) = Compare(set, other);
        return found == set.Count && !extra;
    }

    /// <summary>How many distinct elements of the set <paramref name="other"/> holds, and whether it holds any other.</summary>
    private static (int Found, bool Extra) Compare<TItem, TFinder>(TFinder set, IEnumerable<TItem> other)
        where TFinder : struct, IFinder<TItem>
    {
        ArgumentNullException.ThrowIfNull(other);
        bool[] seen = new bool[set.Count];
        int found = 0;
        bool extra = false;
        foreach (TItem item in other)
        {
            int index = set.IndexOf(item);
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
