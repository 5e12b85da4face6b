using System.Runtime.InteropServices;

namespace Pmalloc.Tests;

/// <summary>
/// Sealing (<see cref="PoolOptions.Seal"/>): after Protect, every way to undo the protection is tried directly,
/// in this process. A sealed mapping makes those calls fail with EPERM (they do not fault), and the data is
/// checked intact after each. The same attempts as attack cases, in a child, are in <c>pmalloc selftest</c> (Pmalloc.Cli.Tests).
/// Tests that need mseal skip where the kernel lacks it (<see cref="KernelRequirements"/>).
/// </summary>
public sealed unsafe class SealingTests
{
    private const long Secret = 0x5EC12E7;

    private static WriteOncePool SealedPool(out nint p, out ChunkMapping mapping, SealMode mode = SealMode.Required)
    {
        WriteOncePool pool = new(KernelRequirements.RequireFor(new PoolOptions { Name = "sealed", Seal = mode }));
        p = pool.Allocate(sizeof(long));
        *(long*)p = Secret;
        pool.Protect();
        mapping = pool.Chunks[0].Mapping;
        return pool;
    }

    private static void AssertRefused(int result, string call, int errno = Interop.Errno.EPERM)
    {
        Assert.True(result == -1, $"{call} went through on a sealed chunk");
        Assert.True(Interop.LastErrno == errno, $"{call} failed with {Interop.ErrnoName(Interop.LastErrno)}, expected {Interop.ErrnoName(errno)}");
    }

    /// <summary>
    /// mprotect(PROT_WRITE) on a sealed chunk: EACCES where Protect mapped it again from a read-only descriptor (the kernel
    /// refuses write access the mapping may never have, before it looks at the seal), EPERM from mseal where the mapping is
    /// the original one (no /proc to reopen the memfd through).
    /// </summary>
    private static void AssertMprotectRefused(ChunkMapping m, nint start, nuint length) =>
        AssertRefused(Interop.mprotect(start, length, Interop.Prot.Read | Interop.Prot.Write), "mprotect",
            m.Shared is { HoldsNoWritableMapping: true } ? Interop.Errno.EACCES : Interop.Errno.EPERM);

    [Fact]
    public void A_sealed_pool_says_so_and_smaps_shows_the_seal_on_the_chunk_and_both_guard_pages()
    {
        using WriteOncePool pool = SealedPool(out _, out ChunkMapping m);
        PoolStatistics stats = pool.Statistics;
        Assert.True(stats.Sealed);
        Assert.Equal(PoolHardening.MappingsSealed | PoolHardening.BackingSealed | PoolHardening.GuardPages, stats.Hardening);

        (SmapsEntry? before, SmapsEntry chunk, SmapsEntry? after) = SmapsEntry.OfChunk(m);
        Assert.Equal("r--s", chunk.Permissions);
        Assert.Contains("sl", chunk.VmFlags);
        GuardPages.AssertAround(m);
        if (m.GuardsInstalled)
        {
            // The guard pages are part of the chunk's own VMA, sealed with it.
            Assert.True(chunk.Start == m.Start - Environment.SystemPageSize && chunk.End == m.End() + Environment.SystemPageSize);
        }
        else
        {
            Assert.Equal("---p", before?.Permissions);
            Assert.Equal("---p", after?.Permissions);
            Assert.Contains("sl", before!.VmFlags);
            Assert.Contains("sl", after!.VmFlags);
        }

        // A protected write-once pool holds no descriptor; reopened through its mapping, the memfd carries the seals.
        Assert.Equal(-1, m.RawFd());
        using Microsoft.Win32.SafeHandles.SafeFileHandle file = File.OpenHandle(m.MapFilesPath(), FileMode.Open, FileAccess.Read);
        int seals = RawLibc.fcntl((int)file.DangerousGetHandle(), Interop.FcntlCommand.GetSeals, 0);
        Assert.Equal(RawLibc.FinalSeals, seals & RawLibc.FinalSeals);
    }

    [Fact]
    public void A_sealed_pool_holds_no_mapping_that_could_be_made_writable_and_its_memfd_takes_no_writable_mapping_at_all()
    {
        using WriteOncePool pool = SealedPool(out nint p, out ChunkMapping m);

        // Protect mapped the chunk again from a read-only descriptor (no VM_MAYWRITE: "mw" gone), with its guard pages and
        // fork exclusion made again, then asked for F_SEAL_WRITE, which proves no writable mapping of the file is left.
        SmapsEntry chunk = SmapsEntry.OfChunk(m).Mapping;
        Assert.Equal("r--s", chunk.Permissions);
        Assert.DoesNotContain("mw", chunk.VmFlags);
        Assert.Contains("dc", chunk.VmFlags);
        Assert.Contains("sl", chunk.VmFlags);
        GuardPages.AssertAround(m);
        Assert.Equal(Secret, *(long*)p);
        using Microsoft.Win32.SafeHandles.SafeFileHandle file = File.OpenHandle(m.MapFilesPath(), FileMode.Open, FileAccess.Read);
        int seals = RawLibc.fcntl((int)file.DangerousGetHandle(), Interop.FcntlCommand.GetSeals, 0);
        Assert.Equal((int)Interop.Seals.Write, seals & (int)Interop.Seals.Write);
    }

    [Fact]
    public void Reads_in_another_thread_see_the_data_throughout_the_remap_of_a_sealed_Protect()
    {
        // Protect maps the chunks again (mmap(MAP_FIXED) over the same range): a reader meanwhile must find one mapping or
        // the other, never a hole (a fault would end the test host) and never other bytes.
        using WriteOncePool pool = new(KernelRequirements.RequireFor(new PoolOptions { Name = "sealed-reads", Seal = SealMode.Required }));
        const int Longs = 64 * 1024 / sizeof(long);
        long* data = (long*)pool.Allocate(Longs * sizeof(long));
        for (int i = 0; i < Longs; i++)
        {
            data[i] = i * 3;
        }

        int rounds = 0, wrong = 0;
        bool stop = false;
        Thread reader = new(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                for (int i = 0; i < Longs; i++)
                {
                    wrong += Volatile.Read(ref data[i]) == i * 3 ? 0 : 1;
                }

                rounds++;
            }
        });
        reader.Start();
        while (Volatile.Read(ref rounds) < 2)
        {
            Thread.Yield();
        }

        pool.Protect();
        int after = Volatile.Read(ref rounds);
        while (Volatile.Read(ref rounds) < after + 2)
        {
            Thread.Yield();
        }

        Volatile.Write(ref stop, true);
        reader.Join();
        Assert.Equal(0, wrong);
        Assert.DoesNotContain("mw", SmapsEntry.OfChunk(pool.Chunks[0].Mapping).Mapping.VmFlags);
    }

    [Theory]
    [InlineData(SealMode.Required)]
    [InlineData(SealMode.IfSupported)]
    public void A_writable_mapping_made_while_the_pool_was_writable_is_named_by_a_required_seal(SealMode mode)
    {
        // The alias is made before Protect, as a child forked while the pool was writable could. No seal can undo that
        // mapping; F_SEAL_WRITE can tell that it exists.
        using WriteOncePool pool = new(KernelRequirements.RequireFor(new PoolOptions { Name = "sealed-aliased", Seal = mode }));
        nint p = pool.Allocate(sizeof(long));
        *(long*)p = Secret;
        ChunkMapping m = pool.Chunks[0].Mapping;
        using Microsoft.Win32.SafeHandles.SafeFileHandle reopened = MapAlias(m, out nint alias);
        try
        {
            if (mode == SealMode.Required)
            {
                AssertNamesAlias(Assert.Throws<IOException>(pool.Protect), "sealed-aliased", "protected", m);
            }
            else
            {
                pool.Protect();
            }

            // Protected and sealed as far as it goes, and the alias still writes.
            Assert.Equal(PoolState.Protected, pool.State);
            Assert.True(pool.Statistics.Sealed);
            AssertSealedButAliasWrites(m, reopened, alias, p);
        }
        finally
        {
            _ = Interop.munmap(alias, m.Length);
        }
    }

    /// <summary>
    /// What a child forked while the pool took writes can do with the descriptor it inherits, done here: reopen the pool's
    /// memfd through /proc/self/fd and map it writable (the alias is unmapped by the caller).
    /// </summary>
    private static Microsoft.Win32.SafeHandles.SafeFileHandle MapAlias(ChunkMapping m, out nint alias)
    {
        Microsoft.Win32.SafeHandles.SafeFileHandle reopened = File.OpenHandle($"/proc/self/fd/{m.RawFd()}", FileMode.Open, FileAccess.ReadWrite);
        alias = RawLibc.mmap(0, m.Length, Interop.Prot.Read | Interop.Prot.Write, Interop.MapFlags.Shared, (int)reopened.DangerousGetHandle(), m.BackingOffset);
        Assert.NotEqual(Interop.MapFailed, alias);
        return reopened;
    }

    /// <summary>A Required seal's refusal names the pool, the call, the errno, what the pool is by then and the chunk.</summary>
    private static void AssertNamesAlias(IOException e, string pool, string state, ChunkMapping m)
    {
        Assert.Contains($"'{pool}'", e.Message);
        Assert.Contains("F_SEAL_WRITE", e.Message);
        Assert.Contains("EBUSY", e.Message);
        Assert.Contains($"the pool is {state}", e.Message);
        Assert.Contains(ThrowHelper.Hex(m.Start), e.Message);
    }

    /// <summary>
    /// Sealed as far as it goes: the pool's own mapping cannot be made writable and no new write gets in through the memfd,
    /// but the alias made before still writes the pool, as the README says.
    /// </summary>
    private static void AssertSealedButAliasWrites(ChunkMapping m, Microsoft.Win32.SafeHandles.SafeFileHandle reopened, nint alias, nint p)
    {
        AssertMprotectRefused(m, m.Start, m.Length);
        long value = 1;
        Assert.Equal(-1, RawLibc.pwrite((int)reopened.DangerousGetHandle(), &value, sizeof(long), m.BackingOffset));
        *(long*)alias = 666;
        Assert.Equal(666, *(long*)p);
    }

    [Fact]
    public void An_unsealed_pool_is_not_sealed()
    {
        using WriteOncePool pool = SealedPool(out _, out ChunkMapping m, SealMode.None);
        Assert.False(pool.Statistics.Sealed);
        Assert.Equal(PoolHardening.GuardPages | PoolHardening.WipeOnDestroy, pool.Statistics.Hardening);
        Assert.DoesNotContain("sl", SmapsEntry.OfChunk(m).Mapping.VmFlags);
        using Microsoft.Win32.SafeHandles.SafeFileHandle file = File.OpenHandle(m.MapFilesPath(), FileMode.Open, FileAccess.Read);
        Assert.Equal(0, RawLibc.fcntl((int)file.DangerousGetHandle(), Interop.FcntlCommand.GetSeals, 0));
    }

    [Fact]
    public void IfSupported_seals_exactly_where_the_kernel_has_mseal()
    {
        using WriteOncePool pool = SealedPool(out _, out _, SealMode.IfSupported);
        Assert.Equal(ProtectedMemory.Support.Mseal, pool.Statistics.Sealed);
    }

    [Fact]
    public void Seal_applies_to_every_chunk_and_a_pool_without_guard_pages()
    {
        using WriteOncePool pool = new(KernelRequirements.RequireFor(new PoolOptions { Name = "sealed-many", Seal = SealMode.Required, GuardPages = false, ChunkSize = Environment.SystemPageSize }));
        for (int i = 0; i < 5; i++)
        {
            pool.Allocate((nuint)Environment.SystemPageSize);
        }

        pool.Protect();
        Assert.True(pool.Statistics.Chunks > 1);
        foreach (Chunk chunk in pool.Chunks)
        {
            Assert.Contains("sl", SmapsEntry.Around(chunk.Start).Mapping.VmFlags);
            AssertMprotectRefused(chunk.Mapping, chunk.Start, chunk.Mapping.Length);
        }
    }

    [Fact]
    public void Mprotect_munmap_mremap_and_map_fixed_are_refused_and_the_data_is_intact()
    {
        using WriteOncePool pool = SealedPool(out nint p, out ChunkMapping m);
        AssertMprotectRefused(m, m.Start, m.Length);
        AssertRefused(Interop.munmap(m.Start, m.Length), "munmap");
        AssertRefused(Interop.munmap(m.ReservationStart, (nuint)Environment.SystemPageSize), "munmap of the leading guard page");
        AssertRefused((int)RawLibc.mremap(m.Start, m.Length, m.Length, RawLibc.MremapMayMove, 0), "mremap");
        AssertRefused((int)RawLibc.mremap(m.Start, m.Length, m.Length * 2, RawLibc.MremapMayMove, 0), "mremap (grow)");
        AssertRefused((int)Interop.mmap(m.Start, m.Length, Interop.Prot.Read | Interop.Prot.Write,
            Interop.MapFlags.Private | Interop.MapFlags.Anonymous | Interop.MapFlags.Fixed), "mmap(MAP_FIXED)");
        AssertRefused((int)Interop.mmap(m.End(), (nuint)Environment.SystemPageSize, Interop.Prot.Read | Interop.Prot.Write,
            Interop.MapFlags.Private | Interop.MapFlags.Anonymous | Interop.MapFlags.Fixed), "mmap(MAP_FIXED) over the trailing guard page");
        Assert.Equal(Secret, *(long*)p);
        Assert.Equal("r--s", SmapsEntry.OfChunk(m).Mapping.Permissions);
    }

    [Fact]
    public void The_memfd_takes_no_write_and_no_writable_mapping_even_reopened_through_proc()
    {
        // A descriptor opened before Protect, as an attacker who kept one would hold it: the seals are the file's, not the descriptor's.
        WriteOncePool pool = new(KernelRequirements.RequireFor(new PoolOptions { Name = "sealed", Seal = SealMode.Required }));
        nint p = pool.Allocate(sizeof(long));
        *(long*)p = Secret;
        ChunkMapping m = pool.Chunks[0].Mapping;
        using Microsoft.Win32.SafeHandles.SafeFileHandle kept = File.OpenHandle($"/proc/self/fd/{m.RawFd()}", FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        pool.Protect();
        using Microsoft.Win32.SafeHandles.SafeFileHandle reopened = File.OpenHandle(m.MapFilesPath(), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        long evil = 0x0BAD;
        foreach ((string how, Microsoft.Win32.SafeHandles.SafeFileHandle file) in new[] { ("a descriptor kept from before Protect", kept), ("/proc/self/map_files", reopened) })
        {
            int fd = (int)file.DangerousGetHandle();
            AssertRefused((int)RawLibc.pwrite(fd, &evil, sizeof(long), m.FileOffsetOf(p)), $"pwrite to {how}");
            AssertRefused(RawLibc.ftruncate(fd, 0), $"ftruncate of {how}");
            AssertRefused((int)RawLibc.mmap(0, m.Length, Interop.Prot.Read | Interop.Prot.Write, Interop.MapFlags.Shared, fd, m.BackingOffset), $"writable mmap of {how}");

            // A read-only mapping is still fine: sealing is against writes.
            nint view = RawLibc.mmap(0, m.Length, Interop.Prot.Read, Interop.MapFlags.Shared, fd, m.BackingOffset);
            Assert.NotEqual(Interop.MapFailed, view);
            Assert.Equal(Secret, *(long*)(view + (p - m.Start)));
            Assert.Equal(0, Interop.munmap(view, m.Length));
        }

        pool.Dispose();

        Assert.Equal(Secret, *(long*)p);
    }

    [Theory]
    [InlineData(SealMode.Required)]
    [InlineData(SealMode.None)]
    public void Madvise_dontneed_loses_nothing_sealed_or_not(SealMode mode)
    {
        Platform.RequireLinux("madvise(MADV_DONTNEED) is Linux's");
        // The pages live in the memfd, not in the mapping: dropping the mapping's pages refaults them from it.
        using WriteOncePool pool = SealedPool(out nint p, out ChunkMapping m, mode);
        _ = Interop.madvise(m.Start, m.Length, Interop.Advice.DontNeed);
        Assert.Equal(Secret, *(long*)p);
    }

    [Fact]
    public void Without_sealing_the_memfd_reopened_through_proc_can_still_be_written()
    {
        Platform.RequireLinux("reopens the memfd through /proc/self/map_files (Windows: pmalloc attack windows-virtualprotect)");
        // The documented limit that sealing closes: Protect alone does not stop a writer who reopens the memfd.
        using WriteOncePool pool = SealedPool(out nint p, out ChunkMapping m, SealMode.None);
        using Microsoft.Win32.SafeHandles.SafeFileHandle file = File.OpenHandle(m.MapFilesPath(), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        long evil = 0x0BAD;
        Assert.Equal(sizeof(long), (int)RawLibc.pwrite((int)file.DangerousGetHandle(), &evil, sizeof(long), m.FileOffsetOf(p)));
        Assert.Equal(0x0BAD, *(long*)p);
    }

    [Fact]
    public void Disposing_a_sealed_pool_only_forgets_it()
    {
        WriteOncePool pool = SealedPool(out nint p, out ChunkMapping m);
        Assert.Equal(-1, m.RawFd()); // closed at Protect already
        pool.Dispose();

        Assert.Equal(PoolState.Destroyed, pool.State);
        Assert.Equal(0, pool.Statistics.Chunks);

        // Still mapped, read-only and sealed, neither wiped nor unmapped; no descriptor of it is open.
        Assert.Equal(Secret, *(long*)p);
        SmapsEntry mapping = SmapsEntry.OfChunk(m).Mapping;
        Assert.Equal("r--s", mapping.Permissions);
        Assert.Contains("sl", mapping.VmFlags);
        Assert.Equal(0, WriteRareTests.MemfdsOf("sealed"));

        // The registry keeps refusing the range: it is read-only for good, and holds no allocation.
        ObjectDisposedException read = Assert.Throws<ObjectDisposedException>(() => ProtectedMemory.CheckRead(p, 8));
        Assert.Contains("'sealed'", read.Message, StringComparison.Ordinal);
        Assert.Throws<ObjectDisposedException>(() => ProtectedMemory.CheckWrite(p, 8));
        Assert.False(ProtectedMemory.TryGetAllocation(p, out _));
        pool.Dispose();
    }

    [Fact]
    public void A_sealed_write_rare_pool_keeps_its_memfd_writable_until_MakeReadOnly()
    {
        // The mapping is sealed at Protect; the memfd's write side only at MakeReadOnly, since Write goes through it.
        using WriteRarePool pool = new(KernelRequirements.RequireFor(new PoolOptions { Name = "sealed-wr", Seal = SealMode.Required }));
        nint p = pool.Allocate(sizeof(long));
        pool.Protect();
        ChunkMapping m = pool.Chunks[0].Mapping;
        Assert.True(pool.Statistics.Sealed);
        Assert.Equal(PoolHardening.MappingsSealed, pool.Statistics.Hardening & (PoolHardening.MappingsSealed | PoolHardening.BackingSealed));
        AssertMprotectRefused(m, m.Start, m.Length);
        Assert.Equal(RawLibc.SizeSeals, RawLibc.fcntl(m.RawFd(), Interop.FcntlCommand.GetSeals, 0));

        pool.Write(p, BitConverter.GetBytes(Secret));
        Assert.Equal(Secret, *(long*)p);
        Assert.Equal(Secret + 1, pool.Add(ref *(long*)p, 1));

        // Protect mapped the chunk again from a read-only descriptor, as for a write-once pool: the writes above went
        // through the memfd and the writer process, never through this mapping, which can never be made writable.
        SmapsEntry chunk = SmapsEntry.OfChunk(m).Mapping;
        Assert.Equal("r--s", chunk.Permissions);
        Assert.DoesNotContain("mw", chunk.VmFlags);
        Assert.Contains("dc", chunk.VmFlags);
        GuardPages.AssertAround(m);

        pool.MakeReadOnly();
        Assert.Equal(PoolHardening.MappingsSealed | PoolHardening.BackingSealed, pool.Statistics.Hardening & (PoolHardening.MappingsSealed | PoolHardening.BackingSealed));
        Assert.Equal(-1, m.RawFd());

        // The memfd is closed, and write-sealed first: reopening it through /proc gives nothing writable.
        using Microsoft.Win32.SafeHandles.SafeFileHandle file = File.OpenHandle(m.MapFilesPath(), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        int fd = (int)file.DangerousGetHandle();
        // F_SEAL_WRITE too: granted once the writer had unmapped the pool, it proves no writable mapping of it is left.
        Assert.Equal(RawLibc.FinalSeals | (int)Interop.Seals.Write, RawLibc.fcntl(fd, Interop.FcntlCommand.GetSeals, 0));
        long evil = 0x0BAD;
        AssertRefused((int)RawLibc.pwrite(fd, &evil, sizeof(long), m.FileOffsetOf(p)), "pwrite after MakeReadOnly");
        AssertRefused((int)RawLibc.mmap(0, m.Length, Interop.Prot.Read | Interop.Prot.Write, Interop.MapFlags.Shared, fd, m.BackingOffset), "writable mmap after MakeReadOnly");
        Assert.Equal(Secret + 1, *(long*)p);
    }

    [Theory]
    [InlineData(SealMode.Required)]
    [InlineData(SealMode.IfSupported)]
    public void A_writable_mapping_made_while_a_write_rare_pool_took_writes_is_named_by_a_required_MakeReadOnly(SealMode mode)
    {
        // A write-rare pool holds its memfd until MakeReadOnly: a child forked after Protect inherits it as well. Done here:
        // map it writable after Protect, while the pool still takes writes.
        using WriteRarePool pool = new(KernelRequirements.RequireFor(new PoolOptions { Name = "sealed-wr-aliased", Seal = mode }));
        nint p = pool.Allocate(sizeof(long));
        *(long*)p = Secret;
        pool.Protect();
        ChunkMapping m = pool.Chunks[0].Mapping;
        using Microsoft.Win32.SafeHandles.SafeFileHandle reopened = MapAlias(m, out nint alias);
        try
        {
            if (mode == SealMode.Required)
            {
                AssertNamesAlias(Assert.Throws<IOException>(pool.MakeReadOnly), "sealed-wr-aliased", "read-only", m);
            }
            else
            {
                pool.MakeReadOnly();
            }

            // Read-only (no write call, no descriptor) and sealed as far as it goes, and the alias still writes.
            Assert.True(pool.IsReadOnly);
            Assert.Equal(-1, m.RawFd());
            Assert.Throws<InvalidOperationException>(() => pool.Write(p, BitConverter.GetBytes(1L)));
            AssertSealedButAliasWrites(m, reopened, alias, p);
        }
        finally
        {
            _ = Interop.munmap(alias, m.Length);
        }
    }

    [Fact]
    public void Disposing_a_sealed_write_rare_pool_still_wipes_it_through_the_memfd()
    {
        // Before MakeReadOnly the memfd takes writes, so even a sealed mapping's bytes can be wiped on the way out.
        WriteRarePool pool = new(KernelRequirements.RequireFor(new PoolOptions { Name = "sealed-wr-wipe", Seal = SealMode.Required }));
        nint p = pool.Allocate(sizeof(long));
        *(long*)p = Secret;
        pool.Protect();
        ChunkMapping m = pool.Chunks[0].Mapping;
        pool.Dispose();
        Assert.Equal(0, *(long*)p);
        Assert.Equal("r--s", SmapsEntry.OfChunk(m).Mapping.Permissions); // still mapped: sealed
    }

}
