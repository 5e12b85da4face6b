namespace Pmalloc;

/// <summary>Which optional Linux features this process's kernel offers; see <see cref="ProtectedMemory.Support"/>.</summary>
public readonly record struct PlatformSupport
{
    /// <summary><c>mseal(2)</c> (Linux 6.10): needed by <see cref="PoolOptions.Seal"/>.</summary>
    public bool Mseal { get; init; }

    /// <summary><c>memfd_secret(2)</c> (Linux 5.14, and <c>secretmem.enable</c> on some kernels): needed by <see cref="PoolOptions.SecretMemory"/>.</summary>
    public bool MemfdSecret { get; init; }

    /// <summary><c>madvise(MADV_GUARD_INSTALL)</c> (Linux 6.13): guard regions without a mapping of their own. Reported only; guard pages use <c>PROT_NONE</c> mappings.</summary>
    public bool GuardInstall { get; init; }
}
