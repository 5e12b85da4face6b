namespace Pmalloc;

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
