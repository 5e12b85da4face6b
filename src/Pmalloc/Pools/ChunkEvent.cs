namespace Pmalloc;

/// <summary>One notification: the pool (its shared core) and, for chunk events, the chunk.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Pool">The pool it happened to.</param>
/// <param name="Chunk">The chunk, for chunk events; null for pool events.</param>
internal readonly record struct ChunkEvent(ChunkEventKind Kind, PoolCore Pool, Chunk? Chunk);
