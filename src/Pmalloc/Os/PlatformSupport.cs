namespace Pmalloc;

/// <summary>
/// Which optional features this process's OS offers; see <see cref="ProtectedMemory.Support"/>. On Windows every Linux
/// kernel feature reads false: Windows has no sealing and no secret memory.
/// </summary>
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

    /// <summary>
    /// <see cref="PoolOptions.ExcludeFromCoreDumps"/> is in force: Linux always (<c>MADV_DONTDUMP</c>); Windows where
    /// kernel32 has <c>WerRegisterExcludedMemoryBlock</c> (Windows 8.1 and later, not Wine), and then only for the dumps
    /// Windows Error Reporting collects. Where it is false the option is accepted and not in force
    /// (<see cref="PoolStatistics.Hardening"/> says so).
    /// </summary>
    public bool CoreDumpExclusion { get; init; }

    /// <summary>
    /// Every write-rare call works after <see cref="ProtectablePool.Protect"/>, with no writable mapping of the pool's memory
    /// in this process: the writer process's executable was found (<c>pmalloc-writer</c> on Linux, <c>pmalloc-writer.exe</c> on
    /// Windows, next to the application or under <c>runtimes/RID/native/</c>). Linux needs it for <c>Publish</c>, <c>Add</c>,
    /// <c>CompareExchange</c> and secret memory (<c>Write</c> and <c>Fill</c> go through the memfd); Windows for every write
    /// into protected memory, since a section takes no write but through a view. Where it is false those calls throw,
    /// naming the missing file; before Protect they are plain stores everywhere.
    /// </summary>
    public bool WriteRareAfterProtect { get; init; }
}
