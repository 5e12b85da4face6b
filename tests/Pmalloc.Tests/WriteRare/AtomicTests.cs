using System.Runtime.CompilerServices;

namespace Pmalloc.Tests;

/// <summary>
/// Publish, Add and CompareExchange are single-copy atomic for lock-free readers and exact under contention, before
/// Protect (interlocked CPU instructions) and after it (one atomic instruction in the writer process).
/// </summary>
public sealed unsafe class AtomicTests
{
    /// <summary>Two values whose 8 bytes all differ, byte for byte: any mix of the two is neither.</summary>
    private const long A = 0x0123456789ABCDEF;
    private const long B = ~A;

    /// <summary>
    /// How many stores a test makes: a tenth on Windows, where every store after Protect is a round trip through a pipe
    /// to the writer process, which under Wine on a loaded 2-core machine takes milliseconds (the readers' spinning
    /// competes with it for the cores). Atomicity does not come from the count: each store is one instruction there too.
    /// </summary>
    private static int Rounds(int linux) => OperatingSystem.IsWindows() ? linux / 10 : linux;

    private static WriteRarePool NewPool([CallerMemberName] string test = "") => new(new PoolOptions { Name = TestPools.UniqueName(test) });

    public enum Store
    {
        Publish,
        Add,
        CompareExchange,
    }

    [Theory]
    [InlineData(Store.Publish)]
    [InlineData(Store.Add)]
    [InlineData(Store.CompareExchange)]
    public void Readers_spinning_on_a_slot_that_alternates_between_two_values_never_see_a_torn_one(Store store)
    {
        using WriteRarePool pool = NewPool();
        long* slot = (long*)Unsafe.AsPointer(ref pool.Allocate<long>());
        *slot = A;
        pool.Protect();

        long torn = 0, reads = 0, changes = 0;
        bool done = false;
        Thread[] readers = [.. Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            long previous = A, seen;
            while (!Volatile.Read(ref done))
            {
                seen = Volatile.Read(ref *slot);
                Interlocked.Increment(ref reads);
                if (seen != A && seen != B)
                {
                    Interlocked.CompareExchange(ref torn, seen, 0);
                }
                else if (seen != previous)
                {
                    Interlocked.Increment(ref changes);
                    previous = seen;
                }

                Platform.LetGcIn();
            }
        }))];
        foreach (Thread reader in readers)
        {
            reader.Start();
        }

        for (int i = 0; i < Rounds(4000); i++)
        {
            long now = (i & 1) == 0 ? A : B, next = (i & 1) == 0 ? B : A;
            switch (store)
            {
                case Store.Publish:
                    pool.Publish(in *(nint*)slot, (nint)next);
                    break;
                case Store.Add:
                    Assert.Equal(next, pool.Add(in *slot, unchecked(next - now)));
                    break;
                default:
                    Assert.Equal(now, pool.CompareExchange(in *slot, next, now));
                    break;
            }
        }

        Volatile.Write(ref done, true);
        foreach (Thread reader in readers)
        {
            reader.Join();
        }

        Assert.Equal(0, torn);
        Assert.Equal(A, *slot);
        Assert.True(reads > 0 && changes > 0, $"the readers saw {reads} reads and {changes} changes");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Add_and_CompareExchange_are_exact_under_four_threads(bool protect)
    {
        const int Threads = 4;
        int adds = Rounds(1000), exchanges = Rounds(250);
        using WriteRarePool pool = NewPool();
        ref long added = ref pool.Allocate<long>();
        ref long exchanged = ref pool.Allocate<long>();
        long* addedAt = (long*)Unsafe.AsPointer(ref added), exchangedAt = (long*)Unsafe.AsPointer(ref exchanged);
        if (protect)
        {
            pool.Protect();
        }

        long[][] results = [.. Enumerable.Range(0, Threads).Select(_ => new long[adds + exchanges])];
        using Barrier start = new(Threads);
        Thread[] threads = [.. Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            for (int i = 0; i < adds; i++)
            {
                results[t][i] = pool.Add(in *addedAt, 1);
            }

            // An increment by compare-exchange, retried until it wins.
            for (int i = 0; i < exchanges; i++)
            {
                long seen = Volatile.Read(ref *exchangedAt), original;
                while ((original = pool.CompareExchange(in *exchangedAt, seen + 1, seen)) != seen)
                {
                    seen = original;
                }

                results[t][adds + i] = seen + 1;
            }
        }))];
        foreach (Thread thread in threads)
        {
            thread.Start();
        }

        foreach (Thread thread in threads)
        {
            thread.Join();
        }

        // Exact: every increment counted once, and each thread saw its own distinct results.
        Assert.Equal(Threads * adds, added);
        Assert.Equal(Threads * exchanges, exchanged);
        Assert.Equal(Enumerable.Range(1, Threads * adds).Select(i => (long)i), results.SelectMany(r => r[..adds]).Order());
        Assert.Equal(Enumerable.Range(1, Threads * exchanges).Select(i => (long)i), results.SelectMany(r => r[adds..]).Order());
    }

    [Fact]
    public void CompareExchange_returns_the_original_value_and_replaces_it_only_when_it_matches()
    {
        using WriteRarePool pool = NewPool();
        ref long slot = ref pool.Allocate<long>();
        pool.Protect();
        Assert.Equal(0, pool.CompareExchange(in slot, 5, 1)); // no match: unchanged
        Assert.Equal(0, slot);
        Assert.Equal(0, pool.CompareExchange(in slot, 5, 0));
        Assert.Equal(5, slot);
        Assert.Equal(long.MinValue + 4, pool.Add(in slot, long.MaxValue)); // wraps like Interlocked.Add
        Assert.Equal(long.MinValue + 4, pool.Add(in slot, 0));
    }
}
