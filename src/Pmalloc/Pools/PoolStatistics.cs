namespace Pmalloc;

/// <summary>A snapshot of a pool's state and size. Two snapshots compare equal when nothing changed between them.</summary>
public readonly record struct PoolStatistics
{
    /// <summary>The pool's name.</summary>
    public required string Name { get; init; }

    /// <summary>The pool's lifecycle state.</summary>
    public required PoolState State { get; init; }

    /// <summary>The number of chunks (mappings of usable memory; each has up to two guard-page neighbours).</summary>
    public required int Chunks { get; init; }

    /// <summary>Usable bytes mapped by all chunks, guard pages not included.</summary>
    public required long MappedBytes { get; init; }

    /// <summary>Bytes held by live allocations, counted in whole granules.</summary>
    public required long AllocatedBytes { get; init; }

    /// <summary>Bytes requested by live allocations.</summary>
    public required long RequestedBytes { get; init; }

    /// <summary>The number of live allocations.</summary>
    public required long LiveAllocations { get; init; }

    /// <summary>
    /// True once the pool is protected and its mappings are sealed with <c>mseal(2)</c>. False with
    /// <see cref="SealMode.IfSupported"/> on a kernel without it.
    /// </summary>
    public required bool Sealed { get; init; }

    /// <summary>The hardening actually in force (which may be less than asked for with <see cref="SealMode.IfSupported"/>).</summary>
    public PoolHardening Hardening { get; init; }
}

/// <summary>Hardening in force on a pool, as <see cref="PoolStatistics.Hardening"/> reports it.</summary>
[Flags]
public enum PoolHardening
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>Every chunk has a <c>PROT_NONE</c> guard page on each side.</summary>
    GuardPages = 1,

    /// <summary>The chunks are locked in RAM (<c>mlock2</c>, or <c>memfd_secret</c>).</summary>
    LockedInMemory = 2,

    /// <summary>The chunks are left out of core dumps (<c>MADV_DONTDUMP</c>, or <c>memfd_secret</c>).</summary>
    ExcludedFromCoreDumps = 4,

    /// <summary>The chunks are backed by <c>memfd_secret</c>, out of the kernel's direct map.</summary>
    SecretMemory = 8,

    /// <summary>The chunk mappings, guard pages included, are sealed with <c>mseal</c>.</summary>
    MappingsSealed = 16,

    /// <summary>The backing memory can no longer be written or mapped writable (memfd <c>F_SEAL_FUTURE_WRITE</c>, or the secret fd closed).</summary>
    BackingSealed = 32,

    /// <summary>The memory is wiped when the pool is destroyed (a sealed pool's cannot be).</summary>
    WipeOnDestroy = 64,
}
