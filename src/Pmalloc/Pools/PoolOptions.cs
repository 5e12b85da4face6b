namespace Pmalloc;

/// <summary>
/// The settings of one pool. All are init-only; the pool constructor validates them and throws
/// <see cref="ArgumentException"/> naming the option that is wrong.
/// </summary>
public sealed record PoolOptions
{
    /// <summary>The pool's name, shown in exceptions, statistics and as <c>/memfd:pmalloc:NAME</c> in <c>/proc/PID/maps</c>.</summary>
    public string Name { get; init; } = "pool";

    /// <summary>The alignment of every allocation and the granule of the bitmap: a power of two from 8 to the OS page size. Default 16.</summary>
    public int Alignment { get; init; } = 16;

    /// <summary>
    /// The pool's smallest chunk, in bytes: from 1 byte to 1 GiB, rounded up to whole OS pages (so 4096 is one page on
    /// every kernel, 4K, 16K or 64K). When set, the first chunk is this size (or the first allocation's, if larger) and
    /// no later chunk is smaller, so a pool whose final size is known maps it in one chunk. Left at its default (64 KiB),
    /// a pool starts smaller: its first chunk is one page (or the first allocation's size), so a pool holding 640 bytes
    /// maps one page. Either way each new chunk is as large as all before it together (geometric growth, up to 64 MiB),
    /// so a million small allocations take a few dozen chunks.
    /// </summary>
    public int ChunkSize
    {
        get => _chunkSize;
        init
        {
            _chunkSize = value;
            ChunkSizeIsSet = true;
        }
    }

    private readonly int _chunkSize = 64 * 1024;

    /// <summary>Was <see cref="ChunkSize"/> set (then the first chunk is that size), or left at its default (then it is one page)?</summary>
    internal bool ChunkSizeIsSet { get; private init; }

    /// <summary>Put an inaccessible (<c>PROT_NONE</c>) page on each side of every chunk, so a linear overflow faults. Default on.</summary>
    public bool GuardPages { get; init; } = true;

    /// <summary>
    /// Seal the chunks on <see cref="ProtectablePool.Protect"/>; an <see cref="ObjectCache{T}"/>, whose chunks are read-only from
    /// birth, seals each chunk as it is mapped. Default <see cref="SealMode.None"/>.
    /// </summary>
    public SealMode Seal { get; init; } = SealMode.None;

    /// <summary>
    /// Lock the pool's pages in RAM (<c>mlock2</c> with <c>MLOCK_ONFAULT</c>: each page once touched), so they are
    /// never swapped out. Every chunk counts in full against <c>RLIMIT_MEMLOCK</c> (<c>ulimit -l</c>); over it,
    /// the allocation that needed a new chunk throws <see cref="InsufficientMemoryException"/> and the pool is unchanged.
    /// </summary>
    public bool LockInMemory { get; init; }

    /// <summary>Leave the pool's pages out of core dumps (<c>MADV_DONTDUMP</c>).</summary>
    public bool ExcludeFromCoreDumps { get; init; }

    /// <summary>
    /// Back the pool with <c>memfd_secret(2)</c> instead of a named memfd: its pages leave the kernel's direct map,
    /// so the kernel cannot read them on the process's behalf (<c>/proc/PID/mem</c>, <c>process_vm_readv</c> and
    /// other paths that pin user pages fail), and they are always locked and left out of core dumps.
    /// Costs: counts against <c>RLIMIT_MEMLOCK</c>; the chunks show as <c>/secretmem</c>, not by pool name, in
    /// <c>/proc/PID/maps</c>; the fd takes no <c>read</c>/<c>write</c>/<c>pwrite</c> (ESPIPE: write-rare pools write
    /// through a short-lived alias instead) and no seals (sealing closes it instead); hibernation is refused while any exists; each chunk splits the kernel's direct map.
    /// Throws <see cref="PlatformNotSupportedException"/> from the constructor where the kernel lacks it
    /// (see <see cref="ProtectedMemory.Support"/>). Default off.
    /// </summary>
    public bool SecretMemory { get; init; }

    /// <summary>Overwrite the pool's memory with zeros when it is destroyed. Default on.</summary>
    public bool WipeOnDestroy { get; init; } = true;
}
