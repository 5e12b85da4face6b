using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Pmalloc.Tests;

/// <summary>
/// The Windows backend as the kernel sees it (<c>VirtualQuery</c>): the Windows twins of the tests that read Linux's
/// <c>/proc/self/maps</c>. Run on Windows only (in CI under Wine: eng/windows-wine.sh --tests).
/// </summary>
[SupportedOSPlatform("windows")]
[Collection(SerialCollection.Name)] // Dispose_unmaps_every_view: no other test may map a view at a freed address meanwhile
public sealed unsafe class WindowsBackendTests
{
    private static readonly nuint Page = (nuint)Environment.SystemPageSize;

    [Fact]
    public void Protect_makes_every_page_of_every_chunk_read_only()
    {
        Platform.RequireWindows("VirtualQuery");
        using WriteOncePool pool = TestPools.NewPool(chunkSize: Environment.SystemPageSize);
        for (int i = 0; i < 32 * Environment.SystemPageSize / 64; i++)
        {
            pool.Allocate(64);
        }

        Assert.True(pool.Chunks.Count > 3);
        Assert.All(pool.Chunks, c => AssertEveryPage(c.Start, c.Mapping.Length, MemoryRegion.PageReadWrite));
        pool.Protect();
        Assert.All(pool.Chunks, c => AssertEveryPage(c.Start, c.Mapping.Length, MemoryRegion.PageReadOnly));
    }

    [Fact]
    public void Each_chunk_sits_between_two_inaccessible_guard_pages_of_its_own_view()
    {
        Platform.RequireWindows("VirtualQuery");
        using WriteOncePool pool = TestPools.NewPool(chunkSize: Environment.SystemPageSize);
        for (int i = 0; i < 16 * Environment.SystemPageSize / 64; i++)
        {
            pool.Allocate(64);
        }

        pool.Protect();
        foreach (Chunk chunk in pool.Chunks)
        {
            MemoryRegion before = WindowsMemoryInfo.At(chunk.Start - (nint)Page), after = WindowsMemoryInfo.At(chunk.End);
            Assert.Equal(MemoryRegion.PageNoAccess, before.Protection);
            Assert.Equal(MemoryRegion.PageNoAccess, after.Protection);

            // Both guards belong to the chunk's own view: nothing else can be mapped there while the chunk lives.
            nint view = WindowsMemoryInfo.At(chunk.Start).AllocationBase;
            Assert.Equal(view, before.AllocationBase);
            Assert.Equal(view, after.AllocationBase);
            Assert.Equal(chunk.Start - (nint)Page, view);
        }
    }

    [Fact]
    public void Without_guard_pages_the_chunk_is_its_whole_view()
    {
        Platform.RequireWindows("VirtualQuery");
        using WriteOncePool pool = TestPools.NewPool(guardPages: false);
        pool.Allocate(64);
        Chunk chunk = Assert.Single(pool.Chunks);
        Assert.Equal(chunk.Start, WindowsMemoryInfo.At(chunk.Start).AllocationBase);
        Assert.NotEqual(chunk.Start, WindowsMemoryInfo.At(chunk.End).AllocationBase);
    }

    [Fact]
    public void A_chunk_born_read_only_can_never_be_made_writable_with_VirtualProtect()
    {
        Platform.RequireWindows("VirtualProtect");
        using ObjectCache<long> cache = new(new PoolOptions { Name = TestPools.UniqueName() });
        ref readonly long item = ref cache.Create(0x5EC12E7);
        nint page = (nint)Unsafe.AsPointer(ref Unsafe.AsRef(in item)) & ~(nint)(Page - 1);
        Assert.Equal(MemoryRegion.PageReadOnly, WindowsMemoryInfo.At(page).Protection);

        // The view was mapped with FILE_MAP_READ only: Windows refuses to raise its pages above that (ERROR_INVALID_PARAMETER).
        Assert.Equal(87, WindowsMemoryInfo.TryProtect(page, Page, MemoryRegion.PageReadWrite));
        Assert.Equal(MemoryRegion.PageReadOnly, WindowsMemoryInfo.At(page).Protection);
        Assert.Equal(0x5EC12E7, item);
    }

    [Fact]
    public void Dispose_unmaps_every_view_and_closes_every_section()
    {
        Platform.RequireWindows("VirtualQuery");
        WriteOncePool pool = TestPools.NewPool(chunkSize: Environment.SystemPageSize);
        for (int i = 0; i < 8 * Environment.SystemPageSize / 64; i++)
        {
            pool.Allocate(64);
        }

        pool.Protect();
        nint[] views = [.. pool.Chunks.Select(c => c.Mapping.ReservationStart)];
        SafeHandle[] sections = [.. pool.Chunks.Select(c => c.Mapping.Backing)];
        pool.Dispose();
        Assert.All(sections, s => Assert.True(s.IsClosed));
        Assert.All(views, v => Assert.False(WindowsMemoryInfo.At(v) is { State: MemoryRegion.MemCommit, Type: MemoryRegion.MemMapped } region && region.AllocationBase == v, $"the view at 0x{v:x} is still mapped"));
    }

    [Theory]
    [InlineData("write-once", true)]
    [InlineData("write-once", false)]
    [InlineData("write-rare", true)]
    [InlineData("write-rare", false)]
    [InlineData("write-rare made read-only", true)]
    public void Dispose_of_a_protected_pool_wipes_what_it_held_unless_told_not_to(string kind, bool wipe)
    {
        Platform.RequireWindows("the Windows backend");
        PoolOptions options = new() { Name = TestPools.UniqueName(), WipeOnDestroy = wipe };
        ProtectablePool pool = kind == "write-once" ? new WriteOncePool(options) : new WriteRarePool(options);
        nint first = pool.Allocate(100);
        nint second = pool.Allocate(3000);
        TestPools.Fill(first, 100, 1);
        if (pool is not WriteRarePool)
        {
            TestPools.Fill(second, 3000, 2);
        }

        pool.Protect();
        if (pool is WriteRarePool rare)
        {
            // After Protect: through the writer process.
            rare.Fill(second, 0xA7, 3000);
            if (kind.EndsWith("made read-only", StringComparison.Ordinal))
            {
                rare.MakeReadOnly();
            }
        }

        Chunk chunk = Assert.Single(pool.Chunks);
        nint section = WindowsMemoryInfo.KeepSection(chunk.Mapping.Section);
        try
        {
            int offset = (int)chunk.Mapping.BackingOffset, used = (int)(second + 3000 - chunk.Start);
            byte[] before = WindowsMemoryInfo.ReadSection(section, (nuint)(offset + used));
            Assert.True(pool is not WriteRarePool || before[offset + used - 1] == 0xA7, "the writer's fill is not in the section");
            Assert.True(before.AsSpan(offset).IndexOfAnyExcept((byte)0) >= 0, "the section holds no data before Dispose");
            pool.Dispose();
            byte[] left = WindowsMemoryInfo.ReadSection(section, (nuint)offset + chunk.Mapping.Length);
            Assert.Equal(wipe, left.AsSpan(offset).IndexOfAnyExcept((byte)0) < 0);
        }
        finally
        {
            WindowsMemoryInfo.CloseSection(section);
        }
    }

    [Fact]
    public void Platform_support_says_what_Windows_has()
    {
        Platform.RequireWindows("the Windows backend");
        PlatformSupport support = ProtectedMemory.Support;
        Assert.False(support.Mseal);
        Assert.False(support.MemfdSecret);
        Assert.False(support.GuardInstall);
        Assert.Equal(HasExport("kernel32.dll", "WerRegisterExcludedMemoryBlock"), support.CoreDumpExclusion);
        Assert.True(support.WriteRareAfterProtect, $"no {WindowsWriterProcess.FileName} next to the tests");
    }

    [Fact]
    public void Sealing_and_secret_memory_are_refused_or_reported_as_not_in_force()
    {
        Platform.RequireWindows("the Windows backend");
        PlatformNotSupportedException sealing = Assert.Throws<PlatformNotSupportedException>(() => new WriteOncePool(new PoolOptions { Name = "seal", Seal = SealMode.Required }));
        Assert.Contains("Windows has no sealing", sealing.Message, StringComparison.Ordinal);
        PlatformNotSupportedException secret = Assert.Throws<PlatformNotSupportedException>(() => new WriteOncePool(new PoolOptions { Name = "secret", SecretMemory = true }));
        Assert.Contains("Windows has no memory the kernel cannot read", secret.Message, StringComparison.Ordinal);

        using WriteOncePool pool = new(new PoolOptions { Name = TestPools.UniqueName(), Seal = SealMode.IfSupported, ExcludeFromCoreDumps = true, LockInMemory = true });
        *(long*)pool.Allocate(8) = 42;
        pool.Protect();
        PoolStatistics statistics = pool.Statistics;
        Assert.False(statistics.Sealed);
        Assert.Equal(0, (int)(statistics.Hardening & (PoolHardening.MappingsSealed | PoolHardening.BackingSealed | PoolHardening.SecretMemory)));
        Assert.True(statistics.Hardening.HasFlag(PoolHardening.LockedInMemory));
        Assert.Equal(ProtectedMemory.Support.CoreDumpExclusion, statistics.Hardening.HasFlag(PoolHardening.ExcludedFromCoreDumps));
    }

    [Fact]
    public void Locking_past_the_working_set_names_the_limit_and_how_to_raise_it()
    {
        Platform.RequireWindows("the Windows backend");

        // Wine locks without a working-set quota (it has none): the message is checked on the failure Windows reports.
        OsResult quota = OsResult.Fail(1453 /* ERROR_WORKING_SET_QUOTA */, "VirtualLock", "lock a chunk of 65536 bytes in memory");
        Exception e = ThrowHelper.ForOs("locked", quota, 0x10000);
        Assert.IsType<InsufficientMemoryException>(e);
        Assert.Contains("Pool 'locked': cannot lock a chunk of 65536 bytes in memory at 0x10000: VirtualLock failed with ERROR_WORKING_SET_QUOTA", e.Message, StringComparison.Ordinal);
        Assert.Contains("working-set minimum of", e.Message, StringComparison.Ordinal);
        Assert.Contains("SetProcessWorkingSetSize", e.Message, StringComparison.Ordinal);
    }

    private static void AssertEveryPage(nint start, nuint length, uint protection)
    {
        for (nuint offset = 0; offset < length; offset += Page)
        {
            MemoryRegion region = WindowsMemoryInfo.At(start + (nint)offset);
            Assert.True(region.Protection == protection, $"page 0x{start + (nint)offset:x}: protection 0x{region.Protection:x}, expected 0x{protection:x}");
        }
    }

    private static bool HasExport(string library, string name) =>
        NativeLibrary.TryLoad(library, out nint handle) && NativeLibrary.TryGetExport(handle, name, out _);
}
