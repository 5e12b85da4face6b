namespace Pmalloc;

/// <summary>How a chunk is mapped and hardened: the OS layer's view of a pool's options.</summary>
[Flags]
internal enum ChunkFlags
{
    None = 0,

    /// <summary>An inaccessible guard page on each side of the chunk.</summary>
    GuardPages = 1,

    /// <summary>Pages stay in RAM once touched, never swapped (Linux: <c>mlock2(MLOCK_ONFAULT)</c>).</summary>
    LockInMemory = 2,

    /// <summary>Left out of core dumps (Linux: <c>MADV_DONTDUMP</c>).</summary>
    ExcludeFromCoreDumps = 4,

    /// <summary>Backed by memory the kernel cannot reach on the process's behalf (Linux: <c>memfd_secret</c>); implies locked and excluded from dumps.</summary>
    SecretMemory = 8,

    /// <summary>The public mapping is read-only from birth: the chunk is written only through its backing (the object cache).</summary>
    ReadOnlyFromBirth = 16,
}
