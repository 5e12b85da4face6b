namespace Pmalloc;

/// <summary>
/// The optional kernel features, each probed once on first use and cached (a three-state field, like the
/// runtime's <c>s_memfdSupported</c>): 0 not probed yet, 1 found, -1 missing. A probe that races
/// another gets the same answer, so the fields need no lock. On Windows every Linux feature is missing without a probe
/// (no libc call is ever made there), and the Windows ones are looked up in kernel32's exports.
/// </summary>
internal static class KernelFeatures
{
    private static int s_mseal;
    private static int s_memfdSecret;
    private static int s_guardInstall;

    /// <summary>What <see cref="ProtectedMemory.Support"/> reports.</summary>
    internal static PlatformSupport Support => new()
    {
        Mseal = Mseal,
        MemfdSecret = MemfdSecret,
        GuardInstall = GuardInstall,
        CoreDumpExclusion = CoreDumpExclusion,
    };

    /// <summary>Does <c>mseal(2)</c> work? Sealing an empty range succeeds where the call exists (ENOSYS before 6.10, EPERM under a seccomp filter).</summary>
    internal static bool Mseal => OperatingSystem.IsLinux() && Probe(ref s_mseal, static () => Interop.mseal(0, 0) == 0);

    /// <summary>Does <c>memfd_secret(2)</c> work? ENOSYS where it was not built in or <c>secretmem.enable=0</c>.</summary>
    internal static bool MemfdSecret => OperatingSystem.IsLinux() && Probe(ref s_memfdSecret, static () =>
    {
        using SafeFdHandle fd = Interop.memfd_secret(Interop.OCloseOnExec);
        return !fd.IsInvalid;
    });

    /// <summary>
    /// Does <c>madvise(MADV_GUARD_INSTALL)</c> work where the pools need it: on a shared mapping of a memfd? Tried on a
    /// scratch page (EINVAL before 6.13 for anonymous memory, and before file-backed guard regions for a memfd). Never on Windows.
    /// </summary>
    internal static bool GuardInstall => OperatingSystem.IsLinux() && Probe(ref s_guardInstall, static () =>
    {
        nuint page = (nuint)Environment.SystemPageSize;
        using SafeFdHandle fd = Interop.memfd_create("pmalloc:probe", "", Interop.MemfdFlags.CloseOnExec);
        if (fd.IsInvalid || Interop.ftruncate(fd, (long)page) != 0)
        {
            return false;
        }

        nint mapped = Interop.mmap(0, page, Interop.Prot.Read | Interop.Prot.Write, Interop.MapFlags.Shared, fd, 0);
        if (mapped == Interop.MapFailed)
        {
            return false;
        }

        bool found = Interop.madvise(mapped, page, Interop.Advice.GuardInstall) == 0;
        _ = Interop.munmap(mapped, page);
        return found;
    });

    /// <summary>
    /// Can a chunk be left out of crash dumps? On Linux always (<c>MADV_DONTDUMP</c>, since 3.4). On Windows where kernel32
    /// exports <c>WerRegisterExcludedMemoryBlock</c> (Windows 8.1 and later; not Wine 8), and then only out of the dumps
    /// Windows Error Reporting collects.
    /// </summary>
    internal static unsafe bool CoreDumpExclusion => !OperatingSystem.IsWindows() || Interop.Kernel32.WerRegisterExcludedMemoryBlock != null;

    private static bool Probe(ref int state, Func<bool> probe)
    {
        int known = Volatile.Read(ref state);
        if (known == 0)
        {
            known = probe() ? 1 : -1;
            Volatile.Write(ref state, known);
        }

        return known > 0;
    }
}
