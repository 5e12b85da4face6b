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

