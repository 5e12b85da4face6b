namespace Pmalloc.Cli.Policy;

/// <summary>
/// The root pointer readers follow to the current policy: one pointer-sized slot in a small write-rare pool,
/// protected from the start, and changed only by <see cref="WriteRarePool.Publish"/> (the kernel's
/// <c>wr_rcu_assign_pointer</c>): a reload swaps it in one atomic, release-ordered store, and a stray
/// write to it faults like a write to the policy itself.
/// </summary>
internal sealed unsafe class RootSlot : IDisposable
{
    // One OS page, whatever its size (4 KiB on x86-64, 4, 16 or 64 KiB on arm64): the smallest chunk a pool can map.
    private readonly WriteRarePool _pool = new(new PoolOptions { Name = "policy-root", ChunkSize = Environment.SystemPageSize });
    private readonly nint* _slot;

    internal RootSlot()
    {
        _slot = (nint*)_pool.Allocate((nuint)sizeof(nint));
        _pool.Protect();
    }

    /// <summary>The write-rare pool that holds the slot.</summary>
    internal WriteRarePool Pool => _pool;

    /// <summary>The policy readers see now (acquire-ordered, so everything the publisher wrote before is visible).</summary>
    internal PolicyRoot* Current => (PolicyRoot*)Volatile.Read(ref *_slot);

    /// <summary>Points readers at <paramref name="root"/>.</summary>
    internal void Publish(nint root) => _pool.Publish(in *_slot, root);

    public void Dispose() => _pool.Dispose();
}
