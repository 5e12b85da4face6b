namespace Pmalloc.Tests;

/// <summary>
/// The rollback log (<see cref="ProtectablePool.Checkpoint"/>) is bounded by the live allocations it may still have to
/// free, not by every allocation ever made since the first mark; and rolling back stays exact while the log is compacted.
/// </summary>
public sealed class RollbackLogTests
{
    [Fact]
    public void A_million_allocate_free_pairs_after_one_checkpoint_keep_the_log_small()
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint kept = pool.Allocate(64);
        PoolCheckpoint mark = pool.Checkpoint();

        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000_000; i++)
        {
            pool.Free(pool.Allocate(16));
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        // One live allocation: the log holds at most its small floor, and the churn allocated next to nothing on the
        // managed heap (an unbounded log takes 8 bytes per pair, 16 MiB with its doublings).
        Assert.InRange(pool.RollbackLogCapacity, 0, ProtectablePool.RollbackLogFloor);
        Assert.InRange(allocated, 0, 256 * 1024);

        // And the mark still rolls back exactly.
        nint later = pool.Allocate(16);
        pool.RollbackTo(mark);
        Assert.True(pool.Contains(kept));
        Assert.False(pool.Contains(later));
        Assert.Equal(1, pool.Statistics.LiveAllocations);
        pool.ValidateInvariants();
    }

    [Fact]
    public void The_log_follows_the_live_allocations_up_and_down()
    {
        using WriteOncePool pool = TestPools.NewPool();
        PoolCheckpoint mark = pool.Checkpoint();
        List<nint> live = [];
        for (int i = 0; i < 10_000; i++)
        {
            live.Add(pool.Allocate(16));
        }

        Assert.InRange(pool.RollbackLogCapacity, 10_000, 4 * 10_000);

        // Free all but ten, then churn: the log shrinks back to the ten that a rollback would still free.
        foreach (nint p in live[10..])
        {
            pool.Free(p);
        }

        for (int i = 0; i < 100_000; i++)
        {
            pool.Free(pool.Allocate(32));
        }

        Assert.InRange(pool.RollbackLogCapacity, 0, ProtectablePool.RollbackLogFloor);
        pool.RollbackTo(mark);
        Assert.Equal(0, pool.Statistics.LiveAllocations);
        Assert.All(live, p => Assert.False(pool.Contains(p)));
    }

    /// <summary>
    /// Long random runs of allocate, free, mark and rollback, with addresses reused all the time (small sizes, frees of
    /// the newest), so that the log is compacted many times between marks: every rollback frees exactly what the model says.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Rollbacks_stay_exact_across_many_compactions(int seed)
    {
        Random random = new(seed);
        using WriteOncePool pool = TestPools.NewPool(chunkSize: Environment.SystemPageSize);
        List<(int Id, nint Address)> live = [];
        List<(PoolCheckpoint Mark, int LastId)> marks = [];
        int nextId = 0, peakLive = 0;
        for (int step = 0; step < 30_000; step++)
        {
            peakLive = Math.Max(peakLive, live.Count);
            int roll = random.Next(100);
            if (roll < 50 || live.Count == 0)
            {
                live.Add((nextId++, pool.Allocate((nuint)random.Next(1, 48))));
            }
            else if (roll < 96)
            {
                // Mostly the newest, so the same addresses come back again and again.
                int index = random.Next(4) == 0 ? random.Next(live.Count) : live.Count - 1;
                pool.Free(live[index].Address);
                live.RemoveAt(index);
            }
            else if (roll < 98 || marks.Count == 0)
            {
                marks.Add((pool.Checkpoint(), nextId - 1));
            }
            else
            {
                int index = random.Next(marks.Count);
                (PoolCheckpoint mark, int lastId) = marks[index];
                pool.RollbackTo(mark);
                live.RemoveAll(b => b.Id > lastId);
                marks.RemoveRange(index + 1, marks.Count - index - 1);
                Assert.Equal(live.Count, pool.Statistics.LiveAllocations);
                Assert.All(live, b => Assert.True(pool.Contains(b.Address), $"allocation {b.Id} was freed by a rollback to a later mark"));
            }
        }

        pool.ValidateInvariants();
        Assert.Equal(live.Count, pool.Statistics.LiveAllocations);
        if (marks.Count > 0)
        {
            (PoolCheckpoint first, int lastId) = marks[0];
            pool.RollbackTo(first);
            live.RemoveAll(b => b.Id > lastId);
            Assert.Equal(live.Count, pool.Statistics.LiveAllocations);
        }

        // The log never held more than twice the most allocations that were ever live at once (some 15,000 were made).
        Assert.InRange(pool.RollbackLogCapacity, 0, Math.Max(ProtectablePool.RollbackLogFloor, 2 * peakLive));
    }
}
