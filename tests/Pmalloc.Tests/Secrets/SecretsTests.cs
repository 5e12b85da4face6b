using System.Runtime.CompilerServices;

namespace Pmalloc.Tests;

/// <summary>
/// Secrets hardening as the kernel reports it in <c>/proc/self/smaps</c>: locked pages, pages left out of core
/// dumps, guard pages, <c>memfd_secret</c> backing, and the wipe on destroy. Going over RLIMIT_MEMLOCK is in
/// <see cref="ForbiddenAccessTests"/> (it must give up CAP_IPC_LOCK, so it runs in a child).
/// </summary>
public sealed unsafe class SecretsTests
{
    private static WriteOncePool Filled(PoolOptions options, out nint p)
    {
        WriteOncePool pool = new(KernelRequirements.RequireFor(options));
        p = pool.Allocate(64);
        *(long*)p = 0x5EC12E7;
        return pool;
    }

    [Fact]
    public void LockInMemory_shows_as_Locked_in_smaps()
    {
        using WriteOncePool pool = Filled(new PoolOptions { Name = "locked", LockInMemory = true }, out _);
        SmapsEntry chunk = SmapsEntry.OfChunk(pool.Chunks[0].Mapping).Mapping;
        Assert.True(chunk.Kilobytes["Locked"] >= Environment.SystemPageSize / 1024, $"Locked: {chunk.Kilobytes["Locked"]} kB");
        Assert.Contains("lo", chunk.VmFlags);  // VM_LOCKED
        Assert.Contains("lf", chunk.VmFlags);  // VM_LOCKONFAULT: only touched pages are resident and locked
        Assert.True((pool.Statistics.Hardening & PoolHardening.LockedInMemory) != 0);

        pool.Protect();
        Assert.Contains("lo", SmapsEntry.OfChunk(pool.Chunks[0].Mapping).Mapping.VmFlags);
    }

    [Fact]
    public void Without_LockInMemory_nothing_is_locked()
    {
        using WriteOncePool pool = Filled(new PoolOptions { Name = "unlocked" }, out _);
        SmapsEntry chunk = SmapsEntry.OfChunk(pool.Chunks[0].Mapping).Mapping;
        Assert.Equal(0, chunk.Kilobytes["Locked"]);
        Assert.DoesNotContain("lo", chunk.VmFlags);
        Assert.DoesNotContain("dd", chunk.VmFlags);
        Assert.Equal(PoolHardening.GuardPages | PoolHardening.WipeOnDestroy, pool.Statistics.Hardening);
    }

    [Fact]
    public void ExcludeFromCoreDumps_shows_as_dd_in_VmFlags()
    {
        using WriteOncePool pool = Filled(new PoolOptions { Name = "nodump", ExcludeFromCoreDumps = true }, out _);
        pool.Allocate(1 << 20); // a second chunk gets it too
        pool.Protect();
        Assert.True(pool.Chunks.Count > 1);
        foreach (Chunk chunk in pool.Chunks)
        {
            Assert.Contains("dd", SmapsEntry.OfChunk(chunk.Mapping).Mapping.VmFlags);
        }

        Assert.True((pool.Statistics.Hardening & PoolHardening.ExcludedFromCoreDumps) != 0);
    }

    [Fact]
    public void Every_chunk_has_a_guard_page_on_each_side()
    {
        using WriteOncePool pool = Filled(new PoolOptions { Name = "guarded", ChunkSize = Environment.SystemPageSize }, out _);
        for (int i = 0; i < 4; i++)
        {
            pool.Allocate((nuint)Environment.SystemPageSize * 2);
        }

        pool.Protect();
        Assert.True(pool.Chunks.Count > 2);
        foreach (Chunk chunk in pool.Chunks)
        {
            SmapsEntry mapping = SmapsEntry.OfChunk(chunk.Mapping).Mapping;
            Assert.Equal("r--s", mapping.Permissions);
            Assert.Contains("pmalloc:guarded", mapping.Path, StringComparison.Ordinal);

            // Installed in the chunk's own VMA (MADV_GUARD_INSTALL), or PROT_NONE neighbours (two neighbouring chunks'
            // guard pages may show as one merged mapping).
            GuardPages.AssertAround(chunk.Mapping);
        }
    }

    [Fact]
    public void Without_guard_pages_the_chunk_is_its_whole_reservation()
    {
        using WriteOncePool pool = Filled(new PoolOptions { Name = "unguarded", GuardPages = false }, out _);
        ChunkMapping m = pool.Chunks[0].Mapping;
        Assert.Equal(m.Start, m.ReservationStart);
        Assert.Equal(m.Length, m.ReservationLength);
        Assert.Equal(PoolHardening.WipeOnDestroy, pool.Statistics.Hardening);
    }

    [Fact]
    public void SecretMemory_backs_the_pool_with_memfd_secret_locked_and_out_of_dumps()
    {
        using WriteOncePool pool = Filled(new PoolOptions { Name = "secret", SecretMemory = true }, out nint p);
        pool.Protect();
        Assert.Equal(0x5EC12E7, *(long*)p);
        (SmapsEntry? before, SmapsEntry chunk, SmapsEntry? after) = SmapsEntry.OfChunk(pool.Chunks[0].Mapping);
        Assert.Contains("secretmem", chunk.Path, StringComparison.Ordinal);
        Assert.Equal("r--s", chunk.Permissions);
        Assert.Contains("dd", chunk.VmFlags);  // VM_DONTDUMP, which every kernel's secretmem mmap sets

        // Kept out of swap by the kernel, whichever way it does it: every kernel marks the secretmem file's pages
        // unevictable (mapping_set_unevictable), which smaps does not show. Older kernels (the x86-64 CI's 6.18.44) also
        // mark the mapping VM_LOCKED ("lo") and charge all of it to RLIMIT_MEMLOCK at mmap; newer ones (Debian 13's
        // 6.12.117 on arm64) set no VM_LOCKED and charge each page when it is first touched. The pool must show what a
        // bare memfd_secret mapping of this kernel shows: nothing the library does (the mapping over a guarded
        // reservation, mprotect) may drop the kernel's marking.
        Assert.Equal(BareSecretMappingIsMarkedLocked(), chunk.VmFlags.Contains("lo"));
        Assert.Equal("---p", before?.Permissions);
        Assert.Equal("---p", after?.Permissions);
        Assert.Equal(PoolHardening.SecretMemory | PoolHardening.LockedInMemory | PoolHardening.ExcludedFromCoreDumps | PoolHardening.GuardPages | PoolHardening.WipeOnDestroy,
            pool.Statistics.Hardening);
    }

    /// <summary>Whether this kernel marks a plain <c>memfd_secret</c> mapping VM_LOCKED (<c>lo</c> in its VmFlags).</summary>
    private static bool BareSecretMappingIsMarkedLocked()
    {
        using SafeFdHandle fd = Interop.memfd_secret(Interop.OCloseOnExec);
        Assert.False(fd.IsInvalid, $"memfd_secret failed: errno {Interop.LastErrno}");
        nuint length = (nuint)Environment.SystemPageSize;
        Assert.Equal(0, Interop.ftruncate(fd, (long)length));
        nint p = Interop.mmap(0, length, Interop.Prot.Read | Interop.Prot.Write, Interop.MapFlags.Shared, fd, 0);
        Assert.NotEqual(Interop.MapFailed, p);
        try
        {
            return SmapsEntry.Around(p).Mapping.VmFlags.Contains("lo");
        }
        finally
        {
            Assert.Equal(0, Interop.munmap(p, length));
        }
    }

    [Fact]
    public void The_kernel_cannot_read_secret_memory_for_the_process_but_can_read_a_plain_pool()
    {
        using WriteOncePool secret = Filled(new PoolOptions { Name = "secret", SecretMemory = true, LockInMemory = true }, out nint s);
        using WriteOncePool plain = Filled(new PoolOptions { Name = "plain" }, out nint p);
        using Microsoft.Win32.SafeHandles.SafeFileHandle mem = File.OpenHandle("/proc/self/mem", FileMode.Open, FileAccess.Read);
        byte[] buffer = new byte[8];
        Assert.Equal(8, RandomAccess.Read(mem, buffer, p));
        Assert.Equal(0x5EC12E7, BitConverter.ToInt64(buffer));
        Assert.Throws<IOException>(() => RandomAccess.Read(mem, buffer, s));

        // Nor can it be reopened through /proc, unlike a memfd.
        ChunkMapping m = secret.Chunks[0].Mapping;
        Assert.ThrowsAny<IOException>(() => File.OpenHandle($"/proc/self/map_files/{m.Start:x}-{m.Start + (nint)m.Length:x}", FileMode.Open, FileAccess.Read).Dispose());
    }

    [Fact]
    public void A_sealed_secret_pool_closes_its_fd_and_refuses_mprotect()
    {
        using WriteOncePool pool = Filled(new PoolOptions { Name = "secret-sealed", SecretMemory = true, Seal = SealMode.Required }, out nint p);
        pool.Protect();
        ChunkMapping m = pool.Chunks[0].Mapping;
        Assert.Equal(-1, m.RawFd());
        Assert.True(pool.Statistics.Sealed);
        Assert.Equal(PoolHardening.MappingsSealed | PoolHardening.BackingSealed, pool.Statistics.Hardening & (PoolHardening.MappingsSealed | PoolHardening.BackingSealed));
        Assert.Equal(-1, Interop.mprotect(m.Start, m.Length, Interop.Prot.Read | Interop.Prot.Write));
        Assert.Equal(Interop.Errno.EPERM, Interop.LastErrno);
        Assert.Contains("sl", SmapsEntry.OfChunk(m).Mapping.VmFlags);
        Assert.Equal(0x5EC12E7, *(long*)p);
    }

    [Fact]
    public void Dispose_of_a_secret_pool_unmaps_it()
    {
        WriteOncePool pool = Filled(new PoolOptions { Name = "secret-gone", SecretMemory = true }, out _);
        pool.Protect();
        nint start = pool.Chunks[0].Start;
        pool.Dispose();
        Assert.DoesNotContain(SmapsEntry.Read(), e => e.Start <= start && start < e.End && e.Path.Contains("secretmem", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Dispose_wipes_the_memory_unless_told_not_to(bool wipe)
    {
        // Keep the memfd open past Dispose (reopened through the mapping: the pool itself holds no descriptor once
        // protected), to look at what the pages hold after the pool let go of them.
        WriteOncePool pool = Filled(new PoolOptions { Name = "wiped", WipeOnDestroy = wipe }, out nint p);
        pool.Protect();
        ChunkMapping m = pool.Chunks[0].Mapping;
        Assert.Equal(-1, m.RawFd());
        using Microsoft.Win32.SafeHandles.SafeFileHandle kept = File.OpenHandle(m.MapFilesPath(), FileMode.Open, FileAccess.Read);
        long offset = m.FileOffsetOf(p);
        pool.Dispose();

        byte[] after = new byte[8];
        Assert.Equal(8, RandomAccess.Read(kept, after, offset));
        Assert.Equal(wipe ? 0 : 0x5EC12E7, BitConverter.ToInt64(after));
    }

    [Fact]
    public void SecretMemory_with_LockInMemory_and_ExcludeFromCoreDumps_is_fine()
    {
        using WriteOncePool pool = Filled(new PoolOptions { Name = "secret-all", SecretMemory = true, LockInMemory = true, ExcludeFromCoreDumps = true }, out nint p);
        pool.Protect();
        Assert.Equal(0x5EC12E7, *(long*)p);
    }
}
