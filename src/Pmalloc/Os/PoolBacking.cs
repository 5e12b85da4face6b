namespace Pmalloc;

/// <summary>
/// A pool's memory file: one memfd for every chunk of the pool, grown with <c>ftruncate</c> as chunks are mapped, each
/// chunk at its own offset (<see cref="ChunkMapping.BackingOffset"/>). Opened with the first chunk, so an empty pool holds
/// no descriptor. Created and changed only by <see cref="OsMemory"/>; it knows no pool.
/// </summary>
/// <remarks>
/// <para>Offsets are never reused: an unmapped chunk's range is punched out of the file (its pages go back to the kernel),
/// and the next chunk goes after the last one. A sparse file costs nothing for the size it claims.</para>
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

    /// <summary>Bytes of the file handed out to chunks so far (the file's size): the next chunk's range starts here.</summary>
    internal long Size { get; set; }

    /// <summary>Is the descriptor open (it was opened and not yet closed)?</summary>
    internal bool IsOpen => Fd is { IsClosed: false };

    /// <summary>The file carries <c>F_SEAL_GROW | F_SEAL_SHRINK</c>: no chunk can be added, and none needs to be after protect.</summary>
    internal bool IsSizeSealed { get; set; }

    /// <summary>The file carries the final seals (<c>F_SEAL_FUTURE_WRITE</c> among them): no write, no writable mapping, no hole punched.</summary>
    internal bool IsWriteSealed { get; set; }

    /// <summary>Can a range of the file still be punched out through the descriptor?</summary>
    internal bool CanPunch => IsOpen && !IsWriteSealed;
}
