namespace Pmalloc.Tests;

public sealed unsafe class LifecycleTests
{
    [Fact]
    public void A_pool_goes_writable_protected_destroyed()
    {
        WriteOncePool pool = TestPools.NewPool();
        Assert.Equal(PoolState.Writable, pool.State);
        nint p = pool.Allocate(8);
        *(long*)p = 42;
        pool.Protect();
        Assert.Equal(PoolState.Protected, pool.State);
        Assert.Equal(PoolState.Protected, pool.Statistics.State);
        Assert.Equal(42, *(long*)p);
        pool.Protect(); // a no-op
        Assert.Equal(PoolState.Protected, pool.State);
        pool.Dispose();
        Assert.Equal(PoolState.Destroyed, pool.State);
        pool.Dispose(); // a no-op
    }

    [Fact]
    public void Protect_makes_every_chunk_read_only_in_the_page_tables()
    {
        using WriteOncePool pool = TestPools.NewPool(chunkSize: Environment.SystemPageSize);
        for (int i = 0; i < 32 * Environment.SystemPageSize / 64; i++) // 32 pages of 64-byte allocations in one-page chunks
        {
            pool.Allocate(64);
        }

        Assert.True(pool.Statistics.Chunks > 3);
        Assert.All(TestPools.MapsLinesOf(pool.Name), line => Assert.Contains(" rw-s ", line, StringComparison.Ordinal));
        pool.Protect();
        string[] lines = TestPools.MapsLinesOf(pool.Name);
        Assert.Equal(pool.Statistics.Chunks, lines.Length);
        Assert.All(lines, line => Assert.Contains(" r--s ", line, StringComparison.Ordinal));
    }

    [Fact]
    public void Guard_pages_surround_every_chunk()
    {
        using WriteOncePool pool = TestPools.NewPool(chunkSize: Environment.SystemPageSize);
        for (int i = 0; i < 16 * Environment.SystemPageSize / 64; i++)
        {
            pool.Allocate(64);
        }

        Platform.RequireLinux("reads /proc/self/maps and pagemap (Windows: WindowsBackendTests)");
        Assert.True(pool.Statistics.Chunks > 3);
        foreach (Chunk chunk in pool.Chunks)
        {
            GuardPages.AssertAround(chunk.Mapping);
        }

        // And they stay guards once the pool is protected (installed guard regions survive mprotect).
        pool.Protect();
        foreach (Chunk chunk in pool.Chunks)
        {
            GuardPages.AssertAround(chunk.Mapping);
        }
    }

    [Fact]
    public void Without_guard_pages_chunks_have_no_inaccessible_neighbours_of_their_own()
    {
        using WriteOncePool pool = TestPools.NewPool(guardPages: false);
        pool.Allocate(64);
        Assert.Single(TestPools.MapsLinesOf(pool.Name));
    }

    [Fact]
    public void Every_operation_after_Dispose_throws_ObjectDisposedException_naming_the_pool()
    {
        WriteOncePool pool = TestPools.NewPool();
        nint p = pool.Allocate(16);
        PoolCheckpoint mark = pool.Checkpoint();
        pool.Dispose();

        Action[] calls =
        [
            () => pool.Allocate(16),
            () => pool.AllocateZeroed(16),
            () => pool.Allocate<int>(),
            () => pool.AllocateArray<int>(4),
            () => pool.AllocateUtf8("x"),
            () => pool.Free(p),
            () => pool.Checkpoint(),
            () => pool.RollbackTo(mark),
            () => pool.Protect(),
            () => pool.Read(p, new byte[1]),
        ];
        foreach (Action call in calls)
        {
            ObjectDisposedException e = Assert.Throws<ObjectDisposedException>(call);
            Assert.Contains($"'{pool.Name}'", e.Message, StringComparison.Ordinal);
        }

        Assert.False(pool.Contains(p));
        PoolStatistics stats = pool.Statistics;
        Assert.Equal(PoolState.Destroyed, stats.State);
        Assert.Equal(0, stats.Chunks);
        Assert.Equal(0, stats.MappedBytes);
    }

    [Fact]
    public void Dispose_unmaps_every_chunk()
    {
        WriteOncePool pool = TestPools.NewPool(chunkSize: Environment.SystemPageSize);
        for (int i = 0; i < 500; i++)
        {
            pool.Allocate(100);
        }

        pool.Protect();
        Assert.NotEmpty(TestPools.MapsLinesOf(pool.Name));
        pool.Dispose();
        Assert.Empty(TestPools.MapsLinesOf(pool.Name));
    }
}
