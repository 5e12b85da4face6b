namespace Pmalloc.Tests;

public sealed class ConcurrencyTests
{
    [Fact]
    public void Two_threads_allocating_and_freeing_at_once_never_share_a_byte()
    {
        using WriteOncePool pool = TestPools.NewPool(chunkSize: Environment.SystemPageSize);
        const int PerThread = 20_000;
        List<(nint Address, nuint Size, int Seed)>[] kept = [[], []];
        using Barrier start = new(2);

        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, t =>
        {
            Random random = new(t);
            start.SignalAndWait();
            for (int i = 0; i < PerThread; i++)
            {
                nuint size = (nuint)random.Next(1, 300);
                nint p = pool.Allocate(size);
                Assert.True(TestPools.IsZero(p, size));
                int seed = (t * PerThread) + i;
                TestPools.Fill(p, size, seed);
                if (random.Next(4) == 0)
                {
                    pool.Free(p);
                }
                else
                {
                    kept[t].Add((p, size, seed));
                }
            }
        });

        pool.ValidateInvariants();
        var all = kept[0].Concat(kept[1]).OrderBy(b => b.Address).ToArray();
        Assert.Equal(all.Length, pool.Statistics.LiveAllocations);
        for (int i = 1; i < all.Length; i++)
        {
            Assert.True(all[i - 1].Address + (nint)all[i - 1].Size <= all[i].Address, "two live allocations overlap");
        }

        pool.Protect();
        Assert.All(all, b => Assert.True(TestPools.HasPattern(b.Address, b.Size, b.Seed)));
    }

    [Fact]
    public void The_lock_s_bias_is_revoked_safely_while_its_owner_allocates_and_frees()
    {
        // The pool's lock is biased to the first thread that takes it (no atomic on its fast path); the first time another
        // thread takes it, the bias is revoked with a process-wide barrier while the owner may be inside. Many rounds, so
        // the revocation lands at many points of the owner's work.
        const int PerThread = 3_000;
        for (int round = 0; round < 30; round++)
        {
            using WriteOncePool pool = TestPools.NewPool(chunkSize: Environment.SystemPageSize);
            List<(nint Address, nuint Size, int Seed)>[] kept = [[], []];
            kept[0].Add((pool.Allocate(16), 16, -1)); // this thread takes the lock first: the owner
            TestPools.Fill(kept[0][0].Address, 16, -1);
            Assert.True(pool.LockIsBiased);

            using Barrier start = new(2);
            Exception? failed = null;
            Thread other = new(() =>
            {
                try
                {
                    Work(1);
                }
#pragma warning disable CA1031 // handed to the test thread, which fails on it
                catch (Exception e)
#pragma warning restore CA1031
                {
                    failed = e;
                }
            });
            other.Start();
            Work(0);
            other.Join();
            Assert.Null(failed);
            Assert.False(pool.LockIsBiased);

            pool.ValidateInvariants();
            var all = kept[0].Concat(kept[1]).OrderBy(b => b.Address).ToArray();
            Assert.Equal(all.Length, pool.Statistics.LiveAllocations);
            for (int i = 1; i < all.Length; i++)
            {
                Assert.True(all[i - 1].Address + (nint)all[i - 1].Size <= all[i].Address, "two live allocations overlap");
            }

            Assert.All(all, b => Assert.True(TestPools.HasPattern(b.Address, b.Size, b.Seed), "a live allocation changed"));

            void Work(int t)
            {
                Random random = new((round * 2) + t);
                start.SignalAndWait();
                for (int i = 0; i < PerThread; i++)
                {
                    nuint size = (nuint)random.Next(1, 200);
                    nint p = pool.Allocate(size);
                    Assert.True(TestPools.IsZero(p, size));
                    int seed = (t * PerThread) + i;
                    TestPools.Fill(p, size, seed);
                    if (random.Next(5) == 0)
                    {
                        pool.Free(p);
                    }
                    else
                    {
                        kept[t].Add((p, size, seed));
                    }

                    if (t == 1 && random.Next(50) == 0)
                    {
                        _ = pool.Contains(p); // another kind of lock user
                    }
                }
            }
        }
    }

    [Fact]
    public void A_pool_filled_by_one_thread_keeps_its_bias_and_another_thread_s_read_revokes_it()
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint p = pool.Allocate(64);
        for (int i = 0; i < 1000; i++)
        {
            _ = pool.Allocate(64);
        }

        Assert.True(pool.LockIsBiased);
        Assert.True(OnAnotherThread(() => pool.Contains(p)));
        Assert.False(pool.LockIsBiased);

        // And the pool works as before from either thread.
        nint q = pool.Allocate(64);
        Assert.True(OnAnotherThread(() => pool.Contains(q)));
        pool.ValidateInvariants();
    }

    private static T OnAnotherThread<T>(Func<T> work)
    {
        T result = default!;
        Thread thread = new(() => result = work());
        thread.Start();
        thread.Join();
        return result;
    }
}
