namespace Pmalloc;

/// <summary>Which optional Linux features this process's kernel offers; see <see cref="ProtectedMemory.Support"/>.</summary>
public readonly record struct PlatformSupport
{
    /// <summary><c>mseal(2)</c> (Linux 6.10): needed by <see cref="PoolOptions.Seal"/>.</summary>
    public bool Mseal { get; init; }

    /// <summary><c>memfd_secret(2)</c> (Linux 5.14, and <c>secretmem.enable</c> on some kernels): needed by <see cref="PoolOptions.SecretMemory"/>.</summary>
    public bool MemfdSecret { get; init; }

    /// <summary>
    /// <c>madvise(MADV_GUARD_INSTALL)</c> on a shared memfd mapping (Linux 6.13 for anonymous memory, later for files):
    /// guard regions without a mapping of their own. Where found, every chunk's guard pages are installed in its own
    /// mapping (one VMA per chunk); elsewhere they are <c>PROT_NONE</c> mappings (three VMAs per chunk).
    /// </summary>
    public bool GuardInstall { get; init; }
}
