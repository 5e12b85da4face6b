namespace Pmalloc;

/// <summary>Something that learns about pools and chunks only through <see cref="ChunkEvents"/>.</summary>
internal interface IChunkObserver
{
    /// <summary>Called synchronously, under the pool's lock: must not block, allocate pool memory, or call into a pool.</summary>
    void OnChunkEvent(in ChunkEvent e);
}
