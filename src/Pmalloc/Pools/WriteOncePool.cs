namespace Pmalloc;

/// <summary>
/// A pool for data that never changes once built: allocate and fill, <see cref="ProtectablePool.Free"/>
/// or <see cref="ProtectablePool.RollbackTo"/> on a failed load, then <see cref="ProtectablePool.Protect"/>.
/// After that the only way back is <see cref="ProtectablePool.Dispose"/>. It has no write method, by design:
/// data that must change rarely belongs in a <c>WriteRarePool</c>.
/// </summary>
public sealed class WriteOncePool : ProtectablePool
{
    /// <summary>Creates an empty pool; no memory is mapped until the first allocation.</summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public WriteOncePool(PoolOptions? options = null)
        : base(options, WritePath.PlainStores)
    {
    }
}
