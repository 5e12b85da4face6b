using System.Runtime.InteropServices;
using System.Text;

namespace Pmalloc.Tests;

public sealed unsafe class AllocationTests
{
    /// <summary>Alignments up to the largest valid one, the page size.</summary>
    public static TheoryData<int> Alignments => [8, 16, 64, 256, Environment.SystemPageSize];

    [Theory]
    [MemberData(nameof(Alignments))]
    public void Allocations_are_aligned_zeroed_and_distinct(int alignment)
    {
        using WriteOncePool pool = TestPools.NewPool(alignment);
        List<(nint Address, nuint Size)> blocks = [];
        nuint page = (nuint)Environment.SystemPageSize;
        foreach (nuint size in new nuint[] { 1, 7, 8, 15, 16, 17, 100, page - 1, page, page + 1, 70_000 })
        {
            nint p = pool.Allocate(size);
            Assert.Equal(0, p % alignment);
            Assert.True(TestPools.IsZero(p, size));
            TestPools.Fill(p, size, blocks.Count);
            blocks.Add((p, size));
        }

        for (int i = 0; i < blocks.Count; i++)
        {
            Assert.True(TestPools.HasPattern(blocks[i].Address, blocks[i].Size, i), $"block {i} was overwritten");
        }

        pool.ValidateInvariants();
    }

    [Fact]
    public void Many_objects_share_a_page()
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint first = pool.Allocate(16);
        for (int i = 1; i < 100; i++)
        {
            Assert.Equal(first + (i * 16), pool.Allocate(16));
        }

        Assert.Equal(1, pool.Statistics.Chunks);
        Assert.Equal(1600, pool.Statistics.AllocatedBytes);
    }

    [Fact]
    public void Statistics_count_requested_and_granule_bytes()
    {
        using WriteOncePool pool = TestPools.NewPool();
        pool.Allocate(10);
        pool.Allocate(33);
        PoolStatistics stats = pool.Statistics;
        Assert.Equal(pool.Name, stats.Name);
        Assert.Equal(PoolState.Writable, stats.State);
        Assert.Equal(2, stats.LiveAllocations);
        Assert.Equal(43, stats.RequestedBytes);
        Assert.Equal(16 + 48, stats.AllocatedBytes);
        Assert.Equal(64 * 1024, stats.MappedBytes);
        Assert.False(stats.Sealed);
    }

    [Fact]
    public void Allocate_T_returns_a_zeroed_reference_into_the_pool()
    {
        using WriteOncePool pool = TestPools.NewPool();
        ref Guid value = ref pool.Allocate<Guid>();
        Assert.Equal(Guid.Empty, value);
        value = Guid.NewGuid();
        nint address = (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref value);
        Assert.True(pool.Contains(address));
        Assert.Equal(sizeof(Guid), (int)pool.Statistics.RequestedBytes);
    }

    [Fact]
    public void AllocateArray_is_zeroed_and_checks_the_count()
    {
        using WriteOncePool pool = TestPools.NewPool();
        Span<long> array = pool.AllocateArray<long>(1000);
        Assert.Equal(1000, array.Length);
        Assert.True(array.IndexOfAnyExcept(0L) < 0);

        PoolStatistics before = pool.Statistics;
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.AllocateArray<long>(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.AllocateArray<long>(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.AllocateArray<Guid>(int.MaxValue)); // 32 GiB: over the limit
        Assert.Equal(before, pool.Statistics);
    }

    [Theory]
    [InlineData("")]
    [InlineData("admin")]
    [InlineData("Grüße, 世界 🔒")]
    public void AllocateUtf8_stores_a_nul_terminated_copy(string text)
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint p = pool.AllocateUtf8(text);
        byte[] expected = Encoding.UTF8.GetBytes(text);
        Assert.Equal(text, Marshal.PtrToStringUTF8(p));
        Assert.Equal(0, ((byte*)p)[expected.Length]);
        Assert.Equal(expected.Length + 1, (int)pool.Statistics.RequestedBytes);
    }

    [Fact]
    public void A_million_small_allocations_need_few_mappings()
    {
        using WriteOncePool pool = TestPools.NewPool();
        for (int i = 0; i < 1_000_000; i++)
        {
            pool.Allocate(16);
        }

        int chunks = pool.Statistics.Chunks;
        Assert.Equal(chunks, TestPools.MapsLinesOf(pool.Name).Length);

        // Each chunk is one mapping plus its two guard-page neighbours.
        Assert.True(chunks * 3 <= 64, $"{chunks} chunks ({chunks * 3} mappings) for a million allocations");
    }

    [Fact]
    public void A_large_allocation_gets_a_chunk_of_its_own_and_small_ones_keep_packing()
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint small1 = pool.Allocate(32);
        nint large = pool.Allocate(1 << 20);
        nint small2 = pool.Allocate(32);
        Assert.Equal(small1 + 32, small2);
        Assert.Equal(2, pool.Statistics.Chunks);
        Assert.Equal((64 * 1024) + (1 << 20), pool.Statistics.MappedBytes);
        Assert.True(TestPools.IsZero(large, 1 << 20));
        pool.ValidateInvariants();
    }

    [Fact]
    public void Freed_granules_are_reused_at_once_and_come_back_zeroed()
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint a = pool.Allocate(64);
        nint b = pool.Allocate(64);
        pool.Allocate(64);
        TestPools.Fill(b, 64, 9);
        pool.Free(b);
        nint again = pool.Allocate(48);
        Assert.Equal(b, again);
        Assert.True(TestPools.IsZero(again, 48));
        Assert.NotEqual(a, again);
        pool.ValidateInvariants();
    }

    [Fact]
    public void Freeing_the_newest_allocation_lowers_the_cursor()
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint a = pool.Allocate(16);
        nint b = pool.Allocate(100);
        pool.Free(b);
        Assert.Equal(b, pool.Allocate(16));
        Assert.Equal(a + 16, b);
        pool.ValidateInvariants();
    }

    [Fact]
    public void Contains_and_Read_see_exact_allocation_bounds()
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint p = pool.Allocate(10);
        TestPools.Fill(p, 10, 3);
        pool.Protect();

        Assert.True(pool.Contains(p));
        Assert.True(pool.Contains(p + 9));
        Assert.False(pool.Contains(p + 10));
        Assert.False(pool.Contains(p - 1));
        Assert.False(pool.Contains(0));

        byte[] all = new byte[10];
        pool.Read(p, all);
        Assert.True(TestPools.HasPattern((nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref all[0]), 10, 3));

        byte[] last = new byte[1];
        pool.Read(p + 9, last);
        Assert.Equal(all[9], last[0]);

        ArgumentOutOfRangeException over = Assert.Throws<ArgumentOutOfRangeException>(() => pool.Read(p + 9, new byte[2]));
        Assert.Contains(pool.Name, over.Message, StringComparison.Ordinal);
        Assert.Contains($"0x{p + 9:x}", over.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Read(p, new byte[11]));
        Assert.Throws<ArgumentException>(() => pool.Read(p + 10, new byte[1]));
    }
}
