using Pmalloc.Cli;

namespace Pmalloc.Cli.Tests;

/// <summary>The parsing behind <c>pmalloc inspect</c>: fixed smaps text as kernel 6.18 prints it, and this process's own pools.</summary>
public sealed class PoolMapsTests
{
    // Two chunks of pool "keys": one with guards, sealed, locked (split in two VMAs by a partial mlock) and
    // not dumped; one writable without guards. A pool whose name has spaces. Fields abridged.
    private const string Smaps = """
        7f0000000000-7f0000001000 ---p 00000000 00:00 0 
        Rss:                   0 kB
        VmFlags: mr mw me nr 
        7f0000001000-7f0000002000 r--s 00000000 00:01 125                        /memfd:pmalloc:keys (deleted)
        Rss:                   4 kB
        Locked:                4 kB
        VmFlags: rd sh mr mw me ms lo dd sl 
        7f0000002000-7f0000003000 r--s 00001000 00:01 125                        /memfd:pmalloc:keys (deleted)
        Rss:                   0 kB
        Locked:                0 kB
        VmFlags: rd sh mr mw me ms dd sl 
        7f0000003000-7f0000004000 ---p 00000000 00:00 0 
        Rss:                   0 kB
        VmFlags: mr mw me nr 
        7f0000010000-7f0000020000 rw-s 00000000 00:01 126                        /memfd:pmalloc:keys (deleted)
        Rss:                  64 kB
        Locked:                0 kB
        VmFlags: rd wr sh mr mw me ms 
        7f0000030000-7f0000031000 r--s 00000000 00:01 127                        /memfd:pmalloc:my pool  (deleted)
        Rss:                   4 kB
        VmFlags: rd sh mr mw me ms 
        7f0000040000-7f0000041000 r--p 00000000 08:01 999                        /usr/lib/libc.so.6
        Rss:                   4 kB
        VmFlags: rd mr mw me 
        """;

    [Fact]
    public void Smaps_text_is_grouped_into_pools_and_chunks()
    {
        IReadOnlyList<PoolMapInfo> pools = PoolMaps.Summarize(PoolMaps.Parse(Smaps));

        Assert.Equal(["keys", "my pool "], pools.Select(p => p.Name));
        PoolMapInfo keys = pools[0];
        Assert.Equal(2, keys.Chunks);
        Assert.Equal(0x2000 + 0x10000, keys.MappedBytes);
        Assert.Equal((4 + 64) * 1024, keys.ResidentBytes);
        Assert.Equal("mixed", keys.Protection);
        Assert.False(keys.Sealed);
        Assert.Equal(4096, keys.LockedBytes);
        Assert.False(keys.ExcludedFromCoreDumps);
        Assert.Equal(1, keys.GuardedChunks);
        Assert.False(keys.GuardPages);

        PoolMapInfo spaced = pools[1];
        Assert.Equal(("r", 1, 0), (spaced.Protection, spaced.Chunks, spaced.GuardedChunks));
    }

    [Fact]
    public void Chunks_of_one_memfd_are_told_apart_by_their_offsets_and_installed_guards_found_in_pagemap()
    {
        // One memfd for the pool: two chunks side by side in memory, at ranges of the file that do not follow on, each with
        // its guard pages installed in its own first and last page (MADV_GUARD_INSTALL), as pagemap says.
        ulong page = (ulong)Environment.SystemPageSize;
        ulong a = 0x7f0000100000, b = a + (3 * page);
        string smaps = $"""
            {a:x}-{b:x} r--s 00000000 00:01 200                        /memfd:pmalloc:one (deleted)
            Rss:                   4 kB
            VmFlags: rd sh mr mw me ms gu 
            {b:x}-{b + (5 * page):x} r--s {16 * page:x8} 00:01 200                        /memfd:pmalloc:one (deleted)
            Rss:                   8 kB
            VmFlags: rd sh mr mw me ms gu 
            """;
        HashSet<ulong> guards = [a, a + (2 * page), b, b + (4 * page)];

        PoolMapInfo one = Assert.Single(PoolMaps.Summarize(PoolMaps.Parse(smaps), guards.Contains));
        Assert.Equal((2, 2, (long)(4 * page)), (one.Chunks, one.GuardedChunks, one.MappedBytes));
        Assert.True(one.GuardPages);

        // Without pagemap (another user's process), installed guards go unseen: reported as unguarded, never the reverse.
        PoolMapInfo blind = Assert.Single(PoolMaps.Summarize(PoolMaps.Parse(smaps)));
        Assert.Equal((2, 0), (blind.Chunks, blind.GuardedChunks));
    }

    [Fact]
    public void A_pools_inaccessible_spare_mapping_is_no_chunk()
    {
        // A writable pool of one chunk, and the spare an emptied chunk left (PROT_NONE, punched: nothing resident).
        string smaps = """
            7f0000200000-7f0000203000 rw-s 00000000 00:01 300                        /memfd:pmalloc:spared (deleted)
            Rss:                   4 kB
            VmFlags: rd wr sh mr mw me ms gu 
            7f0000210000-7f0000222000 ---s 00003000 00:01 300                        /memfd:pmalloc:spared (deleted)
            Rss:                   0 kB
            VmFlags: sh mr mw me ms gu 
            """;

        PoolMapInfo spared = Assert.Single(PoolMaps.Summarize(PoolMaps.Parse(smaps)));
        Assert.Equal((1, "rw", 0x3000L), (spared.Chunks, spared.Protection, spared.MappedBytes));
    }

    [Fact]
    public void A_sealed_locked_undumped_pool_is_reported_as_such()
    {
        string onlyFirstChunk = string.Join('\n', Smaps.Split('\n').TakeWhile(l => !l.StartsWith("7f0000010000", StringComparison.Ordinal)));
        PoolMapInfo keys = Assert.Single(PoolMaps.Summarize(PoolMaps.Parse(onlyFirstChunk)));

        Assert.Equal(("r", true, true, true, true), (keys.Protection, keys.Sealed, keys.Locked, keys.ExcludedFromCoreDumps, keys.GuardPages));
    }

    [Fact]
    public void This_process_s_pool_shows_its_chunks_protection_and_guards()
    {
        using WriteOncePool pool = TestPools.NewPool();
        pool.Allocate(100);
        pool.Allocate(200_000);

        PoolMapInfo writable = Assert.Single(PoolMaps.Read("self"), p => p.Name == pool.Name);
        Assert.Equal(("rw", pool.Statistics.Chunks, pool.Statistics.MappedBytes, true), (writable.Protection, writable.Chunks, writable.MappedBytes, writable.GuardPages));

        pool.Protect();
        PoolMapInfo protectedPool = Assert.Single(PoolMaps.Read("self"), p => p.Name == pool.Name);
        Assert.Equal(("r", 2), (protectedPool.Protection, protectedPool.Chunks));
        Assert.False(protectedPool.Sealed);

        pool.Dispose();
        Assert.DoesNotContain(PoolMaps.Read("self"), p => p.Name == pool.Name);
    }

    [Fact]
    public void A_sealed_locked_undumped_pool_of_this_process_is_reported_as_such()
    {
        KernelRequirements.Require(KernelFeature.Mseal);

        // A sealed pool's memory stays mapped until the process exits, whatever Dispose does: a few pages.
        using WriteOncePool pool = new(new PoolOptions
        {
            Name = TestPools.UniqueName(), Seal = SealMode.Required, LockInMemory = true, ExcludeFromCoreDumps = true,
        });
        TestPools.Fill(pool.Allocate(5000), 5000, 1);
        pool.Protect();

        PoolMapInfo info = Assert.Single(PoolMaps.Read("self"), p => p.Name == pool.Name);
        Assert.Equal(("r", true, true, true, true), (info.Protection, info.Sealed, info.Locked, info.ExcludedFromCoreDumps, info.GuardPages));
        Assert.InRange(info.LockedBytes, (5000 + Environment.SystemPageSize - 1) / Environment.SystemPageSize * Environment.SystemPageSize, info.MappedBytes); // at least the pages filled
    }

    [Fact]
    public void Secret_memory_chunks_are_reported_together()
    {
        KernelRequirements.Require(KernelFeature.MemfdSecret);
        using WriteOncePool pool = new(new PoolOptions { Name = TestPools.UniqueName(), SecretMemory = true });
        pool.Allocate(100);

        PoolMapInfo secret = Assert.Single(PoolMaps.Read("self"), p => p.Name == PoolMaps.SecretPoolName);
        Assert.True(secret.Chunks >= 1);
        Assert.DoesNotContain(PoolMaps.Read("self"), p => p.Name == pool.Name);
    }

    [Fact]
    public void A_process_that_does_not_exist_is_a_clear_error()
    {
        InspectException e = Assert.Throws<InspectException>(() => PoolMaps.Read("99999999"));
        Assert.Equal("no process with PID 99999999", e.Message);
    }
}
