namespace Pmalloc;

/// <summary>
/// The one narrow notification from the pool layer to the features above it: the usercopy registry and the metrics
/// subscribe once, at module load, and the pool publishes to them without knowing who they are.
/// </summary>
internal static class ChunkEvents
{
    private static readonly Lock s_lock = new();

    /// <summary>Replaced as a whole on subscribe (rare), read without a lock on publish.</summary>
    private static ChunkObserver[] s_observers = [];

    /// <summary>Adds an observer for every later event.</summary>
    internal static void Subscribe(ChunkObserver observer)
    {
        lock (s_lock)
        {
            s_observers = [.. s_observers, observer];
        }
    }

    /// <summary>Tells every observer. The pool calls it under its lock.</summary>
    internal static void Publish(ChunkEventKind kind, PoolCore pool, Chunk? chunk = null)
    {
        ChunkEvent e = new(kind, pool, chunk);
        foreach (ChunkObserver observer in Volatile.Read(ref s_observers))
        {
            observer.OnChunkEvent(in e);
        }
    }
}
