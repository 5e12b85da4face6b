namespace Pmalloc.Tests;

/// <summary>
/// One memfd per pool: every chunk of a pool is a range of the same memory file (<see cref="ChunkMapping.BackingOffset"/>),
/// the pool holds one descriptor while it is writable and none once a write-once pool is protected, guard pages are
/// installed in the chunk's own VMA where the kernel can (one VMA per chunk), and a small pool maps one page.
/// Checked in /proc/self/maps and /proc/self/fd.
/// </summary>
public sealed unsafe class BackingTests
{
    private static readonly int Page = Environment.SystemPageSize;

    private static WriteOncePool ManyChunks(out nint[] kept, [System.Runtime.CompilerServices.CallerMemberName] string test = "")
    {
        WriteOncePool pool = TestPools.NewPool(chunkSize: Page, test: test);
        kept = new nint[64 * Page / 64];
        for (int i = 0; i < kept.Length; i++)
        {
            kept[i] = pool.Allocate(64);
            *(int*)kept[i] = i;
        }

        Assert.True(pool.Statistics.Chunks >= 5, $"{pool.Statistics.Chunks} chunks");
        return pool;
    }

    /// <summary>A chunk's range of the pool's memfd, its installed guard pages included.</summary>
    private static (long From, long To) FileRange(ChunkMapping m)
    {
        long guard = m.GuardsInstalled ? Page : 0;
        return (m.BackingOffset - guard, m.BackingOffset + (long)m.Length + guard);
    }

    [Fact]
    public void An_empty_pool_holds_no_descriptor_and_no_mapping()
    {
        using WriteOncePool pool = TestPools.NewPool();
        Assert.Empty(TestPools.MemfdsOf(pool.Name));
        Assert.Empty(TestPools.MapsLinesOf(pool.Name));
    }


    [Theory]
    [InlineData("é", 120)] // 2 bytes each: 241 bytes left after "pmalloc:" hold 120 of them
    [InlineData("😀", 60)] // a surrogate pair, 4 bytes: never split, 60 fit
    public void A_pool_name_too_long_for_the_kernel_is_cut_after_the_last_whole_character_that_fits(string unit, int kept)
    {
        Platform.RequireLinux("the memfd's name is the kernel's");
        string name = string.Concat(Enumerable.Repeat(unit, 200 / unit.Length));
        using WriteOncePool pool = new(new PoolOptions { Name = name });
        _ = pool.Allocate(16);
        string shown = string.Concat(Enumerable.Repeat(unit, kept));
        Assert.Single(TestPools.MemfdsOf(shown));
        Assert.Equal(pool.Statistics.Chunks, TestPools.MapsLinesOf(shown).Length);
    }
    [Fact]
    public void Every_chunk_of_a_pool_is_a_range_of_one_memfd()
    {
        Platform.RequireLinux("one memfd per pool, read in /proc/self/fd (Windows has a section per chunk)");
        using WriteOncePool pool = ManyChunks(out _);

        // One descriptor, however many chunks, and every chunk's mapping is of the same file (one inode).
        Assert.Single(TestPools.MemfdsOf(pool.Name));
        string[] lines = TestPools.MapsLinesOf(pool.Name);
        Assert.Equal(pool.Statistics.Chunks, lines.Length);
        Assert.Single(lines.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[4]).Distinct());

        // At distinct ranges of it, never neighbours: a page of the file lies unmapped between any two, so the kernel can
        // never merge two chunks' mappings into one VMA, however the addresses fall. /proc/self/maps agrees with BackingOffset.
        (long From, long To)[] ranges = [.. pool.Chunks.Select(c => FileRange(c.Mapping)).OrderBy(r => r.From)];
        for (int i = 1; i < ranges.Length; i++)
        {
            Assert.True(ranges[i - 1].To + Page <= ranges[i].From, $"two chunks are neighbours in the memfd: {ranges[i - 1]} and {ranges[i]}");
        }

        foreach (Chunk chunk in pool.Chunks)
        {
            ChunkMapping m = chunk.Mapping;
            string line = Assert.Single(lines, l => l.StartsWith($"{m.VmaStart():x}-", StringComparison.Ordinal));
            long offset = long.Parse(line.Split(' ')[2], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(m.BackingOffset - (m.VmaStart() == m.Start ? 0 : Page), offset);
        }
    }

    [Fact]
    public void The_memfd_at_BackingOffset_holds_the_chunk_s_bytes()
    {
        // What a writer process that receives the descriptor relies on: map Backing at BackingOffset, see the chunk.
        using WriteOncePool pool = ManyChunks(out nint[] kept);
        foreach (Chunk chunk in pool.Chunks)
        {
            ChunkMapping m = chunk.Mapping;
            nint view = RawLibc.mmap(0, m.Length, Interop.Prot.Read, Interop.MapFlags.Shared, m.RawFd(), m.BackingOffset);
            Assert.NotEqual(Interop.MapFailed, view);
            Assert.True(new ReadOnlySpan<byte>((void*)m.Start, (int)m.Length).SequenceEqual(new ReadOnlySpan<byte>((void*)view, (int)m.Length)));
            Assert.Equal(0, Interop.munmap(view, m.Length));
        }

        Assert.Equal(kept.Length - 1, *(int*)kept[^1]);
    }

    [Fact]
    public void A_protected_write_once_pool_holds_no_descriptor_and_keeps_its_memory()
    {
        Platform.RequireLinux("a chunk's backing is a file descriptor on Linux only (Windows keeps each chunk's section until Dispose)");
        WriteOncePool pool = ManyChunks(out nint[] kept);
        int chunks = pool.Statistics.Chunks;
        pool.Protect();

        Assert.Empty(TestPools.MemfdsOf(pool.Name));
        Assert.All(pool.Chunks, c => Assert.Equal(-1, c.Mapping.RawFd()));
        Assert.Equal(chunks, TestPools.MapsLinesOf(pool.Name).Length);
        for (int i = 0; i < kept.Length; i++)
        {
            Assert.Equal(i, *(int*)kept[i]);
        }

        pool.Dispose();
        Assert.Empty(TestPools.MapsLinesOf(pool.Name));
        Assert.Empty(TestPools.MemfdsOf(pool.Name));
    }

    [Fact]
    public void A_write_rare_pool_holds_one_descriptor_until_MakeReadOnly_and_none_after()
    {
        Platform.RequireLinux("one memfd per pool, read in /proc/self/fd (Windows has a section per chunk)");
        using WriteRarePool pool = new(new PoolOptions { Name = TestPools.UniqueName(), ChunkSize = Page });
        nint p = pool.Allocate(64);
        _ = pool.Allocate((nuint)(4 * Page)); // a second chunk
        pool.Protect();
        Assert.Single(TestPools.MemfdsOf(pool.Name));
        pool.Write(p, [1, 2, 3]);
        pool.MakeReadOnly();
        Assert.Empty(TestPools.MemfdsOf(pool.Name));
        Assert.Equal(1, *(byte*)p);
    }

    [Fact]
    public void A_small_pool_maps_one_page()
    {
        using WriteOncePool pool = new(new PoolOptions { Name = TestPools.UniqueName() });
        for (int i = 0; i < 10; i++)
        {
            _ = pool.Allocate(64);
        }

        Assert.Equal(1, pool.Statistics.Chunks);
        Assert.Equal(Page, pool.Statistics.MappedBytes);

        // And growth is geometric from there: the first allocation too large gets its size, the next ones double.
        _ = pool.Allocate((nuint)(3 * Page));
        Assert.Equal(4 * Page, pool.Statistics.MappedBytes);
    }

    [Fact]
    public void A_new_chunk_s_first_page_is_present_for_a_small_allocation_and_a_large_one_commits_only_what_is_written()
    {
        Platform.RequireLinux("reads the chunk's resident pages in /proc/self/smaps");
        long pageKb = Page / 1024;

        // The allocation that maps a chunk is written at once: its page comes with the mapping (no fault at the first store).
        using WriteOncePool small = TestPools.NewPool();
        nint p = small.Allocate(64);
        ChunkMapping first = small.Chunks.Single().Mapping;
        Assert.Equal(pageKb, SmapsEntry.OfChunk(first).Mapping.Kilobytes["Rss"]);
        Assert.True(TestPools.IsZero(p, 64));

        // A large allocation may be written sparsely: no page of it is committed before its store, and one store commits one.
        using WriteOncePool large = TestPools.NewPool();
        nuint size = (nuint)(64 * Page);
        nint big = large.Allocate(size);
        ChunkMapping chunk = large.Chunks.Single().Mapping;
        Assert.Equal(0, SmapsEntry.OfChunk(chunk).Mapping.Kilobytes["Rss"]);
        *(byte*)(big + (nint)(size / 2)) = 1;
        Assert.Equal(pageKb, SmapsEntry.OfChunk(chunk).Mapping.Kilobytes["Rss"]);
    }

    [Fact]
    public void A_set_ChunkSize_is_the_first_chunk_and_no_later_chunk_is_smaller()
    {
        // The contract's default value stays 64 KiB; setting it (even to that value) asks for chunks of at least that size,
        // so a pool whose final size is known maps it in one chunk.
        Assert.Equal(64 * 1024, new PoolOptions().ChunkSize);
        nuint chunk = (nuint)(16 * Page);
        using WriteOncePool pool = new(new PoolOptions { Name = TestPools.UniqueName(), ChunkSize = (int)chunk });
        for (int i = 0; i < 10; i++)
        {
            _ = pool.Allocate(64);
        }

        Assert.Equal(1, pool.Statistics.Chunks);
        Assert.Equal((long)chunk, pool.Statistics.MappedBytes);

        // Filled, the next chunk is as large as everything before it: never below ChunkSize.
        _ = pool.Allocate(chunk - (nuint)(10 * 64));
        _ = pool.Allocate(16);
        Assert.Equal(2, pool.Statistics.Chunks);
        Assert.Equal(2 * (long)chunk, pool.Statistics.MappedBytes);
    }

    [Fact]
    public void Where_the_kernel_installs_guard_pages_every_chunk_is_one_VMA()
    {
        KernelRequirements.Require(KernelFeature.GuardInstall);
        using WriteOncePool pool = ManyChunks(out _);
        foreach (bool protect in (ReadOnlySpan<bool>)[false, true])
        {
            if (protect)
            {
                pool.Protect(); // mprotect keeps the guard markers and does not split the VMA
            }

            foreach (Chunk chunk in pool.Chunks)
            {
                ChunkMapping m = chunk.Mapping;
                Assert.True(m.GuardsInstalled);
                SmapsEntry vma = SmapsEntry.OfChunk(m).Mapping;
                Assert.Equal((m.Start - Page, m.End() + Page), (vma.Start, vma.End));
                Assert.True(GuardPages.IsInstalled(m.Start - Page) && GuardPages.IsInstalled(m.End()), "the guard pages are not installed");
                Assert.False(GuardPages.IsInstalled(m.Start) || GuardPages.IsInstalled(m.End() - Page), "a usable page is a guard");
            }

            Assert.Equal(pool.Statistics.Chunks, TestPools.MapsLinesOf(pool.Name).Length);
        }
    }

    [Fact]
    public void A_chunk_unmapped_by_a_rollback_gives_its_range_to_the_next_chunk_zeroed()
    {
        using WriteOncePool pool = TestPools.NewPool(chunkSize: Page);
        _ = pool.Allocate(16); // keeps the first chunk
        nint big = pool.Allocate((nuint)(8 * Page));
        TestPools.Fill(big, (nuint)(8 * Page), 5);
        long offset = pool.Chunks.Single(c => c.Contains(big)).Mapping.BackingOffset;
        pool.Free(big);

        nint again = pool.Allocate((nuint)(8 * Page));
        Assert.Equal(offset, pool.Chunks.Single(c => c.Contains(again)).Mapping.BackingOffset);
        Assert.True(TestPools.IsZero(again, (nuint)(8 * Page)), "a reused range of the memfd still holds old bytes");
        pool.ValidateInvariants();
    }

    [Fact]
    public void A_freed_chunk_stays_as_the_inaccessible_spare_and_its_reuse_maps_nothing_and_reads_zeros()
    {
        Platform.RequireLinux("the spare mapping is the Linux backend's, read in /proc/self/maps");
        using WriteOncePool pool = TestPools.NewPool(chunkSize: Page);
        _ = pool.Allocate(16); // keeps the first chunk
        nuint size = (nuint)(8 * Page);
        nint big = pool.Allocate(size);
        TestPools.Fill(big, size, 5);
        ChunkMapping first = pool.Chunks.Single(c => c.Contains(big)).Mapping;
        long mappedBefore = pool.Statistics.MappedBytes;
        pool.Free(big);

        // No longer a chunk of the pool, nor counted as mapped; still one mapping of the pool's file, with no access and
        // no page left in it (the range was punched: its bytes are gone from memory, not only from sight).
        Assert.Equal(1, pool.Statistics.Chunks);
        Assert.Equal(mappedBefore - (long)size, pool.Statistics.MappedBytes);
        MapsEntry spare = Assert.Single(MapsEntry.Read(), e => e.Start <= big && big < e.End);
        Assert.Equal("---s", spare.Permissions);
        Assert.Equal(MapsEntry.PoolPath(pool.Name), spare.Path);
        Assert.Equal(0, SmapsEntry.OfChunk(first).Mapping.Kilobytes["Rss"]);

        // The next chunk of that length is the same mapping made accessible again: same address, no new mapping, zeros.
        int mappings = TestPools.MapsLinesOf(pool.Name).Length;
        nint again = pool.Allocate(size);
        Assert.Equal(big, again);
        Assert.Equal(mappings, TestPools.MapsLinesOf(pool.Name).Length);
        Assert.Equal("rw-s", Assert.Single(MapsEntry.Read(), e => e.Start <= again && again < e.End).Permissions);
        Assert.True(TestPools.IsZero(again, size), "a reused spare still holds the freed bytes");
        if (first.GuardsInstalled)
        {
            Assert.True(GuardPages.IsInstalled(again - Page) && GuardPages.IsInstalled(again + (nint)size), "the spare lost its guard pages");
        }

        pool.ValidateInvariants();
    }

    [Fact]
    public void A_chunk_of_another_length_is_mapped_anew_and_Protect_and_Dispose_drop_the_spare()
    {
        Platform.RequireLinux("the spare mapping is the Linux backend's, read in /proc/self/maps");
        using WriteOncePool pool = TestPools.NewPool(chunkSize: Page);
        _ = pool.Allocate(16);
        nint big = pool.Allocate((nuint)(8 * Page));
        pool.Free(big);
        nint other = pool.Allocate((nuint)(4 * Page));
        Assert.NotEqual(big, other);
        Assert.Contains(MapsEntry.Read(), e => e.Start <= big && big < e.End && e.Permissions == "---s");

        // Protect frees nothing again: the spare goes, and every mapping left of the pool is a chunk.
        pool.Protect();
        Assert.DoesNotContain(MapsEntry.Read(), e => e.Start <= big && big < e.End);
        Assert.Equal(pool.Statistics.Chunks, TestPools.MapsLinesOf(pool.Name).Length);
    }

    [Fact]
    public void Dispose_unmaps_the_spare_of_a_writable_pool()
    {
        Platform.RequireLinux("the spare mapping is the Linux backend's, read in /proc/self/maps");
        WriteOncePool pool = TestPools.NewPool(chunkSize: Page);
        _ = pool.Allocate(16);
        pool.Free(pool.Allocate((nuint)(8 * Page)));
        Assert.Equal(2, TestPools.MapsLinesOf(pool.Name).Length);
        pool.Dispose();
        Assert.Empty(TestPools.MapsLinesOf(pool.Name));
        Assert.Empty(TestPools.MemfdsOf(pool.Name));
    }
}

/// <summary>Where the kernel has no MADV_GUARD_INSTALL (simulated): each chunk sits in a PROT_NONE reservation, three VMAs.</summary>
[Collection(nameof(KernelFeatureOverride))]
public sealed class BackingWithoutGuardInstallTests
{
    [Fact]
    public void Without_guard_install_the_guards_are_PROT_NONE_neighbours()
    {
        using (KernelFeatureOverride.Without("s_guardInstall"))
        {
            using WriteOncePool pool = TestPools.NewPool(chunkSize: Environment.SystemPageSize);
            for (int i = 0; i < 3 * Environment.SystemPageSize / 64; i++) // three pages' worth, whatever the page size
            {
                _ = pool.Allocate(64);
            }

            pool.Protect();
            Assert.True(pool.Statistics.Chunks > 1);
            Assert.False(ProtectedMemory.Support.GuardInstall);
            foreach (Chunk chunk in pool.Chunks)
            {
                Assert.False(chunk.Mapping.GuardsInstalled);
                (SmapsEntry? before, SmapsEntry vma, SmapsEntry? after) = SmapsEntry.OfChunk(chunk.Mapping);
                Assert.Equal((chunk.Start, chunk.Mapping.End()), (vma.Start, vma.End));
                Assert.Equal("---p", before?.Permissions);
                Assert.Equal("---p", after?.Permissions);
            }

            // Still one memfd for the pool (now closed: protected).
            Assert.Single(TestPools.MapsLinesOf(pool.Name).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[4]).Distinct());
        }
    }
}
