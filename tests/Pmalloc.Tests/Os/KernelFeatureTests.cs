using System.Runtime.InteropServices;

namespace Pmalloc.Tests;

/// <summary>
/// <see cref="ProtectedMemory.Support"/> says what the kernel has, checked against this test's own probe of each
/// feature. A feature this kernel lacks makes the test skip with the reason, or fail where
/// <c>PMALLOC_REQUIRE_FEATURES</c> names it (CI's x86-64 run requires all three).
/// </summary>
public sealed partial class KernelFeatureTests
{
    [Theory]
    [InlineData(KernelFeature.Mseal)]
    [InlineData(KernelFeature.MemfdSecret)]
    [InlineData(KernelFeature.GuardInstall)]
    public void Support_reports_each_feature_as_the_kernel_has_it(KernelFeature feature)
    {
        Assert.Equal(Probe(feature), KernelRequirements.Has(feature));
        KernelRequirements.Require(feature);
    }

    /// <summary>Tries the feature directly. mseal (462) and memfd_secret (447) have the same number on every Linux architecture.</summary>
    private static bool Probe(KernelFeature feature)
    {
        // Windows has none of them (and no libc to ask): the library must say so without a probe.
        if (OperatingSystem.IsWindows())
        {
            return false;
        }

        switch (feature)
        {
            case KernelFeature.Mseal:
                return Native.syscall(462, 0, 0, 0) == 0; // sealing an empty range succeeds where the call exists
            case KernelFeature.MemfdSecret:
                long fd = Native.syscall(447, 0x80000 /* O_CLOEXEC */, 0, 0);
                if (fd >= 0)
                {
                    _ = Native.close((int)fd);
                }

                return fd >= 0;
            case KernelFeature.GuardInstall:
                nuint page = (nuint)Environment.SystemPageSize;
                nint scratch = Native.mmap(0, page, 3 /* PROT_READ | PROT_WRITE */, 0x22 /* MAP_PRIVATE | MAP_ANONYMOUS */, -1, 0);
                Assert.NotEqual(-1, scratch);
                bool installed = Native.madvise(scratch, page, 102 /* MADV_GUARD_INSTALL */) == 0;
                _ = Native.munmap(scratch, page);
                return installed;
            default:
                throw new ArgumentOutOfRangeException(nameof(feature), feature, null);
        }
    }

    private static partial class Native
    {
        [LibraryImport("libc", SetLastError = true)]
        internal static partial long syscall(long number, long a, long b, long c);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int close(int fd);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial nint mmap(nint address, nuint length, int prot, int flags, int fd, nint offset);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int madvise(nint address, nuint length, int advice);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int munmap(nint address, nuint length);
    }
}
