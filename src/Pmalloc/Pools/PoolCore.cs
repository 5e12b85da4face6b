namespace Pmalloc;

/// <summary>
/// What a pool shares with the layers above it (the usercopy registry, the metrics): its name, its lifecycle state,
/// its lock and whether its memory is read-only. Handed to them in every <see cref="ChunkEvent"/>, so that a bounds check
/// can lock, or skip the lock for a protected pool, without calling back into the pool.
/// </summary>
internal sealed class PoolCore
{
    /// <summary>Serializes every change to the pool's chunks and totals (see <see cref="PoolLock"/>). Checks of a writable pool take it too.</summary>
    internal PoolLock Lock;

    /// <summary>Written under <see cref="Lock"/>; volatile so lock-free readers see a protect or destroy at once.</summary>
    private volatile PoolState _state;

    internal PoolCore(string name, bool chunksBornReadOnly)
    {
        Name = name;
        ChunksBornReadOnly = chunksBornReadOnly;
    }

    /// <summary>The pool's name.</summary>
    internal string Name { get; }

    /// <summary>The pool's chunks are mapped read-only from birth (the object cache's).</summary>
    internal bool ChunksBornReadOnly { get; }

    /// <summary>The lifecycle state. Set under <see cref="Lock"/>; read anywhere.</summary>
    internal PoolState State
    {
        get => _state;
        set => _state = value;
    }

    /// <summary>Is the pool's memory read-only to plain stores: protected, or read-only from birth?</summary>
    internal bool MemoryIsReadOnly => _state == PoolState.Protected || ChunksBornReadOnly;
}
