namespace Pmalloc;

/// <summary>
/// A pool's memory file: one memfd for every chunk of the pool, grown with <c>ftruncate</c> as chunks are mapped, each
/// chunk at its own offset (<see cref="ChunkMapping.BackingOffset"/>). Opened with the first chunk, so an empty pool holds
/// no descriptor. Created and changed only by <see cref="OsMemory"/>; it knows no pool.
/// </summary>
/// <remarks>
/// <para>An unmapped chunk's range is punched out of the file (its pages go back to the kernel, and it reads as zeros) and
/// kept for a later chunk of the pool, first fit; new ranges go after the last one. The file is grown ahead, doubling, so
/// most chunks cost no <c>ftruncate</c>; a sparse file costs nothing for the size it claims. Ranges are reused only while
/// the pool is writable (a protected pool maps and unmaps nothing until destroy), so a writer process that maps the
/// file's ranges after protect never sees one change owner.</para>
/// <para>Secret memory has no such file: a <c>memfd_secret</c> can be sized only once, so each secret chunk keeps a secret
/// descriptor of its own (<see cref="ChunkMapping.Backing"/>) and <see cref="Fd"/> stays null.</para>
/// </remarks>
internal sealed class PoolBacking
{
    internal PoolBacking(string name) => Name = name;

    /// <summary>The pool's name; the file is called <c>pmalloc:NAME</c>.</summary>
    internal string Name { get; }

    /// <summary>The pool's memfd, shared by every chunk's <see cref="ChunkMapping.Backing"/>; null until the first chunk.</summary>
    internal SafeFdHandle? Fd { get; set; }

    /// <summary>The end of the highest range ever handed out to a chunk: a new range starts here.</summary>
    internal long Size { get; set; }

    /// <summary>The file's size (<c>ftruncate</c>), at least <see cref="Size"/>: grown ahead, so most chunks need no call.</summary>
    internal long FileSize { get; set; }

    /// <summary>
    /// An emptied chunk's mapping kept for the next chunk of its length (inaccessible, its range punched), or null: see
    /// <c>LinuxMemory.TryKeepAsSpare</c>. Its range of the file is neither in use nor free until it is taken or dropped.
    /// </summary>
    internal ChunkMapping? Spare { get; set; }

    /// <summary>Ranges of unmapped chunks, punched, sorted by offset, neighbours merged; null until the first.</summary>
    private List<(long Offset, long Length)>? _free;

    /// <summary>Takes <paramref name="length"/> bytes from the first free range that holds them.</summary>
    internal bool TryTakeFree(long length, out long offset)
    {
        if (_free is not null)
        {
            for (int i = 0; i < _free.Count; i++)
            {
                (long at, long available) = _free[i];
                if (available >= length)
                {
                    if (available == length)
                    {
                        _free.RemoveAt(i);
                    }
                    else
                    {
                        _free[i] = (at + length, available - length);
                    }

                    offset = at;
                    return true;
                }
            }
        }

        offset = 0;
        return false;
    }

    /// <summary>Keeps [<paramref name="offset"/>, +<paramref name="length"/>) for a later chunk: it was punched, it reads as zeros.</summary>
    internal void GiveBack(long offset, long length)
    {
        List<(long Offset, long Length)> free = _free ??= [];
        int i = 0;
        while (i < free.Count && free[i].Offset < offset)
        {
            i++;
        }

        free.Insert(i, (offset, length));

        // Merge with the next, then with the previous neighbour.
        if (i + 1 < free.Count && free[i].Offset + free[i].Length == free[i + 1].Offset)
        {
            free[i] = (free[i].Offset, free[i].Length + free[i + 1].Length);
            free.RemoveAt(i + 1);
        }

        if (i > 0 && free[i - 1].Offset + free[i - 1].Length == free[i].Offset)
        {
            free[i - 1] = (free[i - 1].Offset, free[i - 1].Length + free[i].Length);
            free.RemoveAt(i);
        }
    }

    /// <summary>Is the descriptor open (it was opened and not yet closed)?</summary>
    internal bool IsOpen => Fd is { IsClosed: false };

    /// <summary>The file carries <c>F_SEAL_GROW | F_SEAL_SHRINK</c>: no chunk can be added, and none needs to be after protect.</summary>
    internal bool IsSizeSealed { get; set; }

    /// <summary>The file carries the final seals (<c>F_SEAL_FUTURE_WRITE</c> among them): no write, no writable mapping, no hole punched.</summary>
    internal bool IsWriteSealed { get; set; }

    /// <summary>
    /// Every chunk of the file is mapped from a read-only descriptor (<c>OsMemory.TryDropWriteAccess</c>): no mapping the pool
    /// holds can ever be made writable, so the final seal can ask for <c>F_SEAL_WRITE</c>, which the kernel refuses while any
    /// writable mapping of the file exists anywhere.
    /// </summary>
    internal bool HoldsNoWritableMapping { get; set; }

    /// <summary>
    /// The final seal found a writable mapping of the file that is not the pool's (a child forked while the pool was writable,
    /// or code that mapped its descriptor): the file got <c>F_SEAL_FUTURE_WRITE</c> only, and that mapping can still write it.
    /// </summary>
    internal bool WritableElsewhere { get; set; }

    /// <summary>Can a range of the file still be punched out through the descriptor?</summary>
    internal bool CanPunch => IsOpen && !IsWriteSealed;
}
