namespace Pmalloc.Tests;

public sealed class RollbackTests
{
    [Fact]
    public void RollbackTo_frees_everything_after_the_mark_and_restores_the_statistics()
    {
        using WriteOncePool pool = TestPools.NewPool(chunkSize: Environment.SystemPageSize);
        nint kept = pool.Allocate(100);
        TestPools.Fill(kept, 100, 1);
        PoolStatistics before = pool.Statistics;
        PoolCheckpoint mark = pool.Checkpoint();

        // A load that maps new chunks, frees some of its own work, then fails.
        List<nint> loaded = [];
        for (int i = 0; i < 3000; i++)
        {
            loaded.Add(pool.Allocate((nuint)(1 + (i % 200))));
        }

        pool.Free(loaded[10]);
        pool.Allocate(1 << 20);
        Assert.True(pool.Statistics.Chunks > before.Chunks);

        pool.RollbackTo(mark);

        Assert.Equal(before, pool.Statistics);
        Assert.True(TestPools.HasPattern(kept, 100, 1));
        Assert.False(pool.Contains(loaded[0]));
        pool.ValidateInvariants();

        // The pool goes on as if the failed load never happened.
        Assert.Equal(kept + 112, pool.Allocate(16));
    }

    [Fact]
    public void RollbackTo_does_not_resurrect_allocations_freed_after_the_mark()
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint a = pool.Allocate(32);
        nint b = pool.Allocate(32);
        PoolCheckpoint mark = pool.Checkpoint();
        pool.Free(a);
        nint c = pool.Allocate(32); // reuses a's granules
        Assert.Equal(a, c);
        pool.RollbackTo(mark);
        Assert.False(pool.Contains(a));
        Assert.True(pool.Contains(b));
        Assert.Equal(1, pool.Statistics.LiveAllocations);
        pool.ValidateInvariants();
    }

    [Fact]
    public void Nested_marks_roll_back_in_steps()
    {
        using WriteOncePool pool = TestPools.NewPool();
        PoolCheckpoint outer = pool.Checkpoint();
        nint a = pool.Allocate(16);
        PoolCheckpoint inner = pool.Checkpoint();
        nint b = pool.Allocate(16);
        pool.RollbackTo(inner);
        Assert.True(pool.Contains(a));
        Assert.False(pool.Contains(b));
        pool.RollbackTo(inner); // a second rollback to the same mark is a no-op
        Assert.True(pool.Contains(a));
        pool.RollbackTo(outer);
        Assert.False(pool.Contains(a));
        Assert.Equal(0, pool.Statistics.LiveAllocations);
        Assert.Equal(1, pool.Statistics.Chunks); // the first chunk stays mapped for the next load
    }
}
