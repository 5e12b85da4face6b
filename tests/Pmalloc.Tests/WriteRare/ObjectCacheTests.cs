using System.Runtime.CompilerServices;

namespace Pmalloc.Tests;

/// <summary>The init-once object cache: objects packed per page, read-only from birth, wiped and recycled by Free.</summary>
public sealed unsafe class ObjectCacheTests
{
    private struct Rule
    {
        public int Id;
        public int Flags;
        public long Mask;
        public long Owner;
    }

    private static ObjectCache<T> NewCache<T>([CallerMemberName] string test = "")
        where T : unmanaged => new(new PoolOptions { Name = TestPools.UniqueName(test) });

    private static nint AddressOf<T>(ref readonly T item)
        where T : unmanaged => (nint)Unsafe.AsPointer(ref Unsafe.AsRef(in item));

    [Fact]
    public void Create_returns_the_initial_value_in_read_only_memory_many_objects_per_page()
    {
        using ObjectCache<Rule> cache = NewCache<Rule>();
        nint[] addresses = new nint[1000];
        for (int i = 0; i < addresses.Length; i++)
        {
            ref readonly Rule rule = ref cache.Create(new Rule { Id = i, Flags = ~i, Mask = (long)i << 20, Owner = -i });
            addresses[i] = AddressOf(in rule);
        }

        Assert.Equal(1000, cache.Count);
        for (int i = 0; i < addresses.Length; i++)
        {
            Rule rule = *(Rule*)addresses[i];
            Assert.Equal((i, ~i, (long)i << 20, (long)-i), (rule.Id, rule.Flags, rule.Mask, rule.Owner));
        }

        // 24-byte objects in 32-byte slots: 128 per 4 KiB page, and the pages are read-only, never writable.
        Assert.Equal(32, (int)(addresses[1] - addresses[0]));
        Assert.Equal(Environment.SystemPageSize / 32, addresses.Count(a => a / Environment.SystemPageSize == addresses[0] / Environment.SystemPageSize));
        string[] lines = TestPools.MapsLinesOf(cache.Name);
        Assert.Equal(cache.Statistics.Chunks, lines.Length);
        Assert.All(lines, line => Assert.Contains(" r--s ", line, StringComparison.Ordinal));
        cache.ValidateInvariants();
    }

    [Fact]
    public void Free_wipes_the_object_and_recycles_its_slot()
    {
        using ObjectCache<long> cache = NewCache<long>();
        ref readonly long first = ref cache.Create(0x1111);
        ref readonly long second = ref cache.Create(0x2222);
        nint slot = AddressOf(in first);
        cache.Free(in first);
        Assert.Equal(0, *(long*)slot); // still mapped (the chunk is live), and wiped
        Assert.Equal(0x2222, second);
        Assert.Equal(1, cache.Count);

        ref readonly long third = ref cache.Create(0x3333);
        Assert.Equal(slot, AddressOf(in third));
        Assert.Equal(0x3333, third);

        ref readonly long zero = ref cache.Create(0);
        Assert.Equal(0, zero);
        cache.ValidateInvariants();
    }

    [Fact]
    public void Double_free_foreign_and_interior_items_are_refused_and_nothing_changes()
    {
        using ObjectCache<Rule> cache = NewCache<Rule>();
        using ObjectCache<Rule> other = NewCache<Rule>();
        ref readonly Rule kept = ref cache.Create(new Rule { Id = 7, Mask = 70 });
        ref readonly Rule freed = ref cache.Create(new Rule { Id = 8 });
        ref readonly Rule foreign = ref other.Create(new Rule { Id = 9 });
        cache.Free(in freed);

        nint freedAt = AddressOf(in freed), foreignAt = AddressOf(in foreign), interiorAt = AddressOf(in kept) + 8;
        AssertRefused(cache, () => cache.Free(in *(Rule*)freedAt), freedAt, "already freed");
        AssertRefused(cache, () => cache.Free(in *(Rule*)foreignAt), foreignAt, "not in this pool");
        AssertRefused(cache, () => cache.Free(in *(Rule*)interiorAt), interiorAt, "inside the allocation");
        Rule onTheHeap = kept;
        Rule[] array = [onTheHeap];
        AssertRefused(cache, () => cache.Free(in array[0]), 0, "not in this pool");

        Assert.Equal((7, 70L), (kept.Id, kept.Mask));
        Assert.Equal(9, foreign.Id);
        Assert.Equal(1, other.Count);
    }

    private static void AssertRefused<T>(ObjectCache<T> cache, Action misuse, nint address, string why)
        where T : unmanaged
    {
        PoolStatistics before = cache.Statistics;
        ArgumentException e = Assert.Throws<ArgumentException>(misuse);
        Assert.Contains($"'{cache.Name}'", e.Message, StringComparison.Ordinal);
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
        if (address != 0)
        {
            Assert.Contains($"0x{address:x}", e.Message, StringComparison.Ordinal);
        }

        Assert.Equal(before, cache.Statistics);
        cache.ValidateInvariants();
    }

    [Fact]
    public void Threads_create_and_free_concurrently_without_losing_or_mixing_objects()
    {
        using ObjectCache<Rule> cache = NewCache<Rule>();
        const int Threads = 4, PerThread = 2000;
        string?[] errors = new string?[Threads];
        Thread[] workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            List<nint> mine = [];
            for (int i = 0; i < PerThread; i++)
            {
                int id = (t * PerThread) + i;
                mine.Add(AddressOf(in cache.Create(new Rule { Id = id, Owner = t })));
                if (i % 3 == 2)
                {
                    // Free an older one of ours, so slots are recycled while other threads create.
                    nint victim = mine[i / 2];
                    if (victim != 0)
                    {
                        cache.Free(in *(Rule*)victim);
                        mine[i / 2] = 0;
                    }
                }
            }

            for (int i = 0; i < mine.Count; i++)
            {
                if (mine[i] != 0 && (((Rule*)mine[i])->Id != (t * PerThread) + i || ((Rule*)mine[i])->Owner != t))
                {
                    errors[t] ??= $"thread {t}: object {i} holds id {((Rule*)mine[i])->Id} owner {((Rule*)mine[i])->Owner}";
                }
            }
        })).ToArray();
        foreach (Thread worker in workers)
        {
            worker.Start();
        }

        foreach (Thread worker in workers)
        {
            worker.Join();
        }

        Assert.All(errors, Assert.Null);
        cache.ValidateInvariants();
        Assert.Equal(cache.Statistics.LiveAllocations, cache.Count);
    }

    [Fact]
    public void Dispose_wipes_unmaps_and_closes_and_later_calls_throw()
    {
        ObjectCache<long> cache = NewCache<long>();
        ref readonly long item = ref cache.Create(0x5EC12E7);
        using FileStream memory = WriteRareTests.OpenMemfdOf(cache.Name);
        cache.Dispose();
        Assert.Empty(TestPools.MapsLinesOf(cache.Name));
        Assert.Equal(1, WriteRareTests.MemfdsOf(cache.Name)); // ours only
        byte[] contents = new byte[Environment.SystemPageSize];
        memory.ReadExactly(contents);
        Assert.True(contents.AsSpan().IndexOfAnyExcept((byte)0) < 0);

        nint address = AddressOf(in item);
        Assert.Contains($"'{cache.Name}'", Assert.Throws<ObjectDisposedException>(() => cache.Create(1)).Message, StringComparison.Ordinal);
        Assert.Contains($"'{cache.Name}'", Assert.Throws<ObjectDisposedException>(() => cache.Free(in *(long*)address)).Message, StringComparison.Ordinal);
        cache.Dispose(); // a no-op
    }

    [Fact]
    public void Default_name_says_what_the_cache_holds()
    {
        using ObjectCache<Rule> cache = new();
        Assert.Equal("ObjectCache<Rule>", cache.Name);
    }

    [Fact]
    public void A_write_through_the_read_only_reference_kills_the_child()
    {
        Child.AssertFaults("objectcache-write");
    }
}
