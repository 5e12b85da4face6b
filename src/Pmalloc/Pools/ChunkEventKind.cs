namespace Pmalloc;

/// <summary>What happened to a pool or one of its chunks (see <see cref="ChunkEvents"/>).</summary>
internal enum ChunkEventKind
{
    /// <summary>A pool was created (no chunk yet).</summary>
    PoolCreated,

    /// <summary>A chunk was mapped and attached, before any address in it is handed out.</summary>
    ChunkMapped,

    /// <summary>A chunk is about to be unmapped: it is no longer live, and its range may be reused.</summary>
    ChunkUnmapping,

    /// <summary>A sealed chunk of a destroyed pool: it stays mapped read-only until the process exits, holding no allocation.</summary>
    ChunkRetired,

    /// <summary>A pool was destroyed, after all its chunks were unmapped or retired.</summary>
    PoolDestroyed,
}
