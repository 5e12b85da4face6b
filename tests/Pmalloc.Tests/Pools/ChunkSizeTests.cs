namespace Pmalloc.Tests;

/// <summary>
/// <see cref="PoolOptions.ChunkSize"/>: any size from 1 byte to 1 GiB is accepted and rounded up to whole pages, and every
/// accepted size allocates. The expectations are derived from <see cref="Environment.SystemPageSize"/>, so the same test
/// states the rule on 4K, 16K and 64K kernels (a <c>ChunkSize = 4096</c> is below the page on the last two).
/// </summary>
public sealed class ChunkSizeTests
{
    private static readonly int Page = Environment.SystemPageSize;

    /// <summary>The size of the first chunk a pool with <paramref name="chunkSize"/> maps for one small allocation.</summary>
    private static long FirstChunk(int chunkSize)
    {
        using WriteOncePool pool = new(new PoolOptions { Name = TestPools.UniqueName(), ChunkSize = chunkSize });
        pool.Allocate(16);
        Assert.Equal(1, pool.Statistics.Chunks);
        return pool.Statistics.MappedBytes;
    }

    [Fact]
    public void A_chunk_size_below_the_page_is_rounded_up_to_one_page()
    {
        Assert.Equal(Page, FirstChunk(1));
        Assert.Equal(Page, FirstChunk(Page / 4));
        Assert.Equal(Page, FirstChunk(Page - 1));
        Assert.Equal(Page, FirstChunk(Page));
    }

    [Fact]
    public void A_chunk_size_between_pages_is_rounded_up_to_whole_pages()
    {
        Assert.Equal(2L * Page, FirstChunk(Page + 1));
        Assert.Equal(3L * Page, FirstChunk((2 * Page) + (Page / 2)));
    }

    [Fact]
    public void Chunk_sizes_above_the_growth_cap_allocate_and_every_chunk_is_at_least_that_large()
    {
        // 64 MiB + 1 was accepted and then made every Allocate throw (Math.Clamp with min > max).
        int chunkSize = (int)ProtectablePool.MaxGrowthChunkSize + 1;
        long rounded = ProtectablePool.MaxGrowthChunkSize + Page;
        using WriteOncePool pool = new(new PoolOptions { Name = TestPools.UniqueName(), ChunkSize = chunkSize });
        pool.Allocate((nuint)rounded);
        Assert.Equal((1, rounded), (pool.Statistics.Chunks, pool.Statistics.MappedBytes));

        // The first chunk is full: the next one is ChunkSize too, not the 64 MiB cap of geometric growth.
        pool.Allocate(16);
        Assert.Equal((2, 2 * rounded), (pool.Statistics.Chunks, pool.Statistics.MappedBytes));
        pool.ValidateInvariants();
    }

    [Fact]
    public void The_largest_chunk_size_allocates()
    {
        using WriteOncePool pool = new(new PoolOptions { Name = TestPools.UniqueName(), ChunkSize = 1 << 30 });
        nint p = pool.Allocate(16);
        Assert.True(pool.Contains(p));
        Assert.Equal(1L << 30, pool.Statistics.MappedBytes);
    }
}
