namespace Pmalloc;

/// <summary>
/// Something that learns about pools and chunks only through <see cref="ChunkEvents"/>. An abstract class rather than
/// an interface: the publish loop's call site sees every observer, and a virtual call through the method table costs
/// a small pool's life less than the interface dispatch stub that such a call site ends up resolving by hash.
/// </summary>
internal abstract class ChunkObserver
{
    /// <summary>Called synchronously, under the pool's lock: must not block, allocate pool memory, or call into a pool.</summary>
    internal abstract void OnChunkEvent(in ChunkEvent e);
}
