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
}
