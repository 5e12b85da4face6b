using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// Fixed-size <typeparamref name="T"/> objects, many per page, read-only from birth: Matthew Wilcox's
/// <c>kmem_cache_init_once</c> without its window. <see cref="Create"/> writes the initial value through the write-rare
/// path (the chunk's memfd) and returns a read-only reference; the object's page is never writable at its public
/// address, not even while it is initialized. <see cref="Free"/> wipes the object the same way and recycles its slot.
/// </summary>
/// <remarks>
/// <para>Slots are <c>sizeof(T)</c> rounded up to <see cref="PoolOptions.Alignment"/> (default 16). The chunks are mapped
/// <c>PROT_READ</c> from the start, so a write through the returned reference (via <c>Unsafe.AsRef</c>, or a stray pointer)
/// stops the process like a write to any protected pool.</para>
/// <para><b>Sealing.</b> With <see cref="PoolOptions.Seal"/>, each chunk is sealed as it is mapped, before any object is in
/// it: its mapping with <c>mseal</c> (so <c>mprotect</c>, <c>munmap</c> and <c>mremap</c> are refused on it, guard pages
/// included) and its memfd's size. The memfd itself stays writable, since <see cref="Create"/> and <see cref="Free"/> write
/// through it for as long as the cache lives. A sealed chunk is never unmapped: an emptied one stays for the next objects,
/// and <see cref="Dispose"/> wipes the objects through the memfd, closes it, and leaves the mapping (read-only, sealed) until
/// the process exits. <see cref="SealMode.Required"/> throws <see cref="PlatformNotSupportedException"/> from the
/// constructor where the kernel has no <c>mseal</c>; <see cref="SealMode.IfSupported"/> says in
/// <see cref="PoolStatistics.Sealed"/> whether it sealed.</para>
/// <para>Thread-safe: <see cref="Create"/> and <see cref="Free"/> take the cache's lock; reads of objects need none.</para>
/// </remarks>
/// <typeparam name="T">The object type: an unmanaged struct.</typeparam>
public sealed unsafe class ObjectCache<T> : IDisposable
    where T : unmanaged
{
    private readonly WriteRarePool _pool;

    /// <summary>Creates an empty cache; no memory is mapped until the first object. Without options the name is <c>ObjectCache&lt;T&gt;</c>.</summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public ObjectCache(PoolOptions? options = null)
    {
        _pool = new WriteRarePool(options ?? new PoolOptions { Name = $"ObjectCache<{typeof(T).Name}>" }, chunksBornReadOnly: true);
    }

    /// <summary>The cache's name, from <see cref="PoolOptions.Name"/>.</summary>
    public string Name => _pool.Name;

    /// <summary>The number of live objects.</summary>
    public long Count => _pool.Statistics.LiveAllocations;

    /// <summary>A snapshot of the cache's pool: chunks, mapped bytes, live objects, hardening.</summary>
    public PoolStatistics Statistics => _pool.Statistics;

    /// <summary>The cache's pool (for tests).</summary>
    internal WriteRarePool Pool => _pool;

    /// <summary>Checks the allocator's invariants of the cache's pool (expensive; for tests).</summary>
    internal void ValidateInvariants() => _pool.ValidateInvariants();

    /// <summary>Creates an object whose value is <paramref name="initial"/> and returns a read-only reference to it.</summary>
    /// <exception cref="ObjectDisposedException">The cache was disposed.</exception>
    public ref readonly T Create(in T initial)
    {
        nint address = _pool.AllocateInitialized(MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in initial)));
        return ref Unsafe.AsRef<T>((void*)address);
    }

    /// <summary>Wipes the object <paramref name="item"/> refers to and recycles its slot. The reference must not be used afterwards.</summary>
    /// <exception cref="ArgumentException"><paramref name="item"/> is not an object of this cache (foreign, or inside an object), or was already freed.</exception>
    /// <exception cref="ObjectDisposedException">The cache was disposed.</exception>
    public void Free(ref readonly T item) => _pool.Free((nint)Unsafe.AsPointer(ref Unsafe.AsRef(in item)));

    /// <summary>Wipes and unmaps every object. Every reference from <see cref="Create"/> becomes invalid. Calling it again does nothing.</summary>
    public void Dispose() => _pool.Dispose();

    /// <inheritdoc/>
    public override string ToString() => $"ObjectCache<{typeof(T).Name}> '{Name}' ({Count} objects)";
}
