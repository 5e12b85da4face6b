using System.Runtime.InteropServices;
using CsCheck;

namespace Pmalloc.Tests;

/// <summary>The hardened usercopy rules of <see cref="ProtectedMemory"/>, and the pool's <c>Read</c> that uses them.</summary>
public sealed unsafe class UsercopyTests
{
    /// <summary>A pool with two neighbouring allocations: 40 bytes at A (8 bytes of padding in 48), then 32 bytes at B.</summary>
    private static WriteOncePool TwoAllocations(out nint a, out nint b, bool protect = true, string name = "usercopy")
    {
        WriteOncePool pool = new(new PoolOptions { Name = name });
        a = pool.Allocate(40);
        b = pool.Allocate(32);
        Assert.Equal(a + 48, b);
        if (protect)
        {
            pool.Protect();
        }

        return pool;
    }

    [Theory]
    [InlineData(0, 40)]
    [InlineData(0, 1)]
    [InlineData(39, 1)]
    [InlineData(20, 20)]
    public void CheckRead_inside_one_allocation_returns_it(int offset, int length)
    {
        using WriteOncePool pool = TwoAllocations(out nint a, out _);
        AllocationInfo info = ProtectedMemory.CheckRead(a + offset, (nuint)length);
        Assert.Equal(new AllocationInfo("usercopy", a, 40), info);
    }

    [Theory]
    [InlineData(0, 41)]  // one past the end
    [InlineData(39, 2)]  // last byte and one more
    [InlineData(16, 48)] // into the next allocation
    public void CheckRead_crossing_the_end_throws_naming_pool_and_address(int offset, int length)
    {
        using WriteOncePool pool = TwoAllocations(out nint a, out _);
        PoolStatistics before = pool.Statistics;
        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(() => ProtectedMemory.CheckRead(a + offset, (nuint)length));
        Assert.Contains("'usercopy'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"0x{a + offset:x}", e.Message, StringComparison.Ordinal);
        Assert.Contains($"allocation at 0x{a:x}", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, pool.Statistics);
    }

    [Theory]
    [InlineData(40)] // the first byte after the end (padding)
    [InlineData(47)] // the last byte of the padding
    public void CheckRead_starting_past_the_end_throws_naming_the_allocation(int offset)
    {
        using WriteOncePool pool = TwoAllocations(out nint a, out _);
        ArgumentException e = Assert.Throws<ArgumentException>(() => ProtectedMemory.CheckRead(a + offset, 1));
        Assert.Contains("'usercopy'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"0x{a + offset:x}", e.Message, StringComparison.Ordinal);
        Assert.Contains($"past the end of the allocation at 0x{a:x}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckRead_spanning_two_allocations_throws_and_each_alone_passes()
    {
        using WriteOncePool pool = TwoAllocations(out nint a, out nint b);
        Assert.Throws<ArgumentOutOfRangeException>(() => ProtectedMemory.CheckRead(a, (nuint)(b + 32 - a)));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProtectedMemory.CheckRead(a + 39, 10));
        Assert.Equal(b, ProtectedMemory.CheckRead(b, 32).Start);
        Assert.Equal(b, ProtectedMemory.CheckRead(b + 31, 1).Start);
        Assert.Throws<ArgumentOutOfRangeException>(() => ProtectedMemory.CheckRead(b, 33));
    }

    [Fact]
    public void CheckRead_one_byte_before_an_allocation_is_refused()
    {
        using WriteOncePool pool = TwoAllocations(out nint a, out nint b);

        // Before B: A's padding. Before A (the first byte of the chunk): the leading guard page.
        Assert.Throws<ArgumentException>(() => ProtectedMemory.CheckRead(b - 1, 1));
        ArgumentException guard = Assert.Throws<ArgumentException>(() => ProtectedMemory.CheckRead(a - 1, 2));
        Assert.Contains("guard page", guard.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckRead_in_free_granules_throws()
    {
        using WriteOncePool pool = new(new PoolOptions { Name = "usercopy-free" });
        nint kept = pool.Allocate(16);
        nint freed = pool.Allocate(64);
        nint after = pool.Allocate(16);
        pool.Free(freed);
        nint neverUsed = after + 16;

        PoolStatistics before = pool.Statistics;
        foreach (nint address in new[] { freed, freed + 63, neverUsed, neverUsed + 1000 })
        {
            ArgumentException e = Assert.Throws<ArgumentException>(() => ProtectedMemory.CheckRead(address, 1));
            Assert.Contains("no live allocation", e.Message, StringComparison.Ordinal);
            Assert.Contains($"0x{address:x}", e.Message, StringComparison.Ordinal);
            Assert.False(ProtectedMemory.TryGetAllocation(address, out _));
        }

        // A range from a live allocation into the freed granules.
        Assert.Throws<ArgumentOutOfRangeException>(() => ProtectedMemory.CheckRead(kept, 17));
        Assert.Equal(before, pool.Statistics);
        Assert.Equal(kept, ProtectedMemory.CheckRead(kept, 16).Start);
    }

    [Fact]
    public void CheckRead_of_memory_outside_every_pool_returns_default()
    {
        using WriteOncePool pool = TwoAllocations(out _, out _);
        byte* stack = stackalloc byte[64];
        byte[] managed = new byte[64];
        nint native = (nint)NativeMemory.Alloc(64);
        try
        {
            fixed (byte* heap = managed)
            {
                Assert.Equal(default, ProtectedMemory.CheckRead((nint)stack, 64));
                Assert.Equal(default, ProtectedMemory.CheckRead((nint)heap, 64));
                Assert.Equal(default, ProtectedMemory.CheckRead(native, 64));
                ProtectedMemory.CheckWrite((nint)stack, 64);
                ProtectedMemory.CheckWrite(native, 64);
                Assert.False(ProtectedMemory.TryGetAllocation(native, out AllocationInfo info));
                Assert.Equal(default, info);
            }
        }
        finally
        {
            NativeMemory.Free((void*)native);
        }
    }

    [Fact]
    public void Empty_and_wrapping_ranges()
    {
        using WriteOncePool pool = TwoAllocations(out nint a, out _);

        // Nothing moves: nothing to check, even in padding.
        Assert.Equal(default, ProtectedMemory.CheckRead(a + 40, 0));
        ProtectedMemory.CheckWrite(a, 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => ProtectedMemory.CheckRead(-16, 32));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProtectedMemory.CheckRead(a, nuint.MaxValue));
    }

    [Fact]
    public void CheckWrite_refuses_protected_memory_to_the_byte()
    {
        using WriteOncePool pool = TwoAllocations(out nint a, out nint b, protect: false);
        ProtectedMemory.CheckWrite(a, 40);
        ProtectedMemory.CheckWrite(a + 39, 1);
        pool.Protect();
        PoolStatistics before = pool.Statistics;

        foreach ((nint address, nuint length) in new (nint, nuint)[] { (a, 1), (a + 39, 1), (a + 40, 1), (b + 31, 1), (a, 80), (a - 1, 2) })
        {
            InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => ProtectedMemory.CheckWrite(address, length));
            Assert.Contains("'usercopy'", e.Message, StringComparison.Ordinal);
            Assert.Contains($"0x{address:x}", e.Message, StringComparison.Ordinal);
            Assert.Contains("protected", e.Message, StringComparison.Ordinal);
        }

        Assert.Equal(before, pool.Statistics);
        Assert.Equal(0x0L, *(long*)a); // and nothing was written
    }

    [Fact]
    public void CheckWrite_on_a_writable_pool_allows_one_allocation_only()
    {
        using WriteOncePool pool = TwoAllocations(out nint a, out nint b, protect: false);
        ProtectedMemory.CheckWrite(a, 40);
        ProtectedMemory.CheckWrite(b, 32);
        Assert.Throws<ArgumentOutOfRangeException>(() => ProtectedMemory.CheckWrite(a, 41));
        Assert.Throws<ArgumentException>(() => ProtectedMemory.CheckWrite(a + 40, 8));
        pool.Free(b);
        Assert.Throws<ArgumentException>(() => ProtectedMemory.CheckWrite(b, 1));
    }

    [Fact]
    public void TryGetAllocation_finds_the_allocation_from_any_interior_byte()
    {
        using WriteOncePool pool = TwoAllocations(out nint a, out nint b);
        Assert.True(ProtectedMemory.TryGetAllocation(a + 17, out AllocationInfo info));
        Assert.Equal(new AllocationInfo("usercopy", a, 40), info);
        Assert.True(ProtectedMemory.TryGetAllocation(b + 31, out info));
        Assert.Equal(b, info.Start);
        Assert.False(ProtectedMemory.TryGetAllocation(a + 40, out _)); // padding
        Assert.False(ProtectedMemory.TryGetAllocation(b + 32, out _)); // never allocated
    }

    [Fact]
    public void A_destroyed_pool_is_foreign_memory_again()
    {
        WriteOncePool pool = TwoAllocations(out nint a, out _);
        pool.Dispose();

        // Unmapped, and free for anything else to reuse: the registry has forgotten it.
        Assert.Equal(default, ProtectedMemory.CheckRead(a, 8));
        ProtectedMemory.CheckWrite(a, 8);
        Assert.False(ProtectedMemory.TryGetAllocation(a, out _));
        Assert.Throws<ObjectDisposedException>(() => pool.Read(a, new byte[8]));
    }

    [Theory]
    [InlineData(SealMode.None)]
    [InlineData(SealMode.Required)]
    public void A_destroyed_protected_pools_chunks_and_bitmaps_are_collected(SealMode seal)
    {
        // Their bitmaps outlive Dispose only until no lock-free check can hold them: then the finalizer frees them.
        WeakReference chunk = DisposedProtectedChunk(seal);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(chunk.IsAlive);
    }

    [Theory]
    [InlineData(SealMode.None)]
    [InlineData(SealMode.Required)]
    public void A_destroyed_protected_pool_frees_its_metadata_at_once_unless_a_lock_free_check_read_it(SealMode seal)
    {
        PoolOptions options = KernelRequirements.RequireFor(new PoolOptions { Name = TestPools.UniqueName(), Seal = seal });

        // Never looked up without the lock: nothing can still hold the metadata, and it is freed by Dispose itself.
        using (WriteOncePool pool = new(options))
        {
            nint a = pool.Allocate(16);
            Assert.Equal(new AllocationInfo(pool.Name, a, 16), ProtectedMemory.CheckRead(a, 16)); // a writable pool: under its lock
            pool.Protect();
            Chunk chunk = pool.Chunks[0];
            pool.Dispose();
            Assert.True(chunk.MetadataReleased);
            Assert.False(chunk.MetadataLeftToFinalizer);
        }

        // Looked up lock-free once: that lookup may still be reading it, so it is left to the finalizer.
        using (WriteOncePool pool = new(options))
        {
            nint a = pool.Allocate(16);
            pool.Protect();
            Assert.Equal(new AllocationInfo(pool.Name, a, 16), ProtectedMemory.CheckRead(a, 16));
            Chunk chunk = pool.Chunks[0];
            pool.Dispose();
            Assert.True(chunk.MetadataLeftToFinalizer);
        }
    }

    [Fact]
    public void A_lock_free_lookup_of_a_retired_chunk_is_refused_and_leaves_the_metadata_alone()
    {
        using WriteOncePool pool = TestPools.NewPool();
        _ = pool.Allocate(16);
        pool.Protect();
        Chunk chunk = pool.Chunks[0];
        pool.Dispose();

        // The other half of the handshake: a lookup that finds the chunk retired must not read its metadata.
        Assert.True(chunk.MetadataReleased);
        Assert.False(chunk.TryReadWithoutLock());
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static WeakReference DisposedProtectedChunk(SealMode seal)
    {
        WriteOncePool pool = new(KernelRequirements.RequireFor(new PoolOptions { Name = "usercopy-collected", Seal = seal }));
        pool.Allocate(16);
        pool.Protect();
        WeakReference chunk = new(pool.Chunks[0]);
        pool.Dispose();
        return chunk;
    }

    [Fact]
    public void A_writable_pool_that_unmapped_an_emptied_chunk_forgets_it()
    {
        using WriteOncePool pool = new(new PoolOptions { Name = "usercopy-unmap", ChunkSize = Environment.SystemPageSize });
        pool.Allocate((nuint)Environment.SystemPageSize);
        nint big = pool.Allocate((nuint)Environment.SystemPageSize * 4);
        Assert.True(ProtectedMemory.TryGetAllocation(big, out _));
        pool.Free(big);
        Assert.Equal(1, pool.Statistics.Chunks);
        Assert.Equal(default, ProtectedMemory.CheckRead(big, 8));
    }

    [Fact]
    public void Pool_Read_uses_the_same_check_and_stays_in_its_pool()
    {
        using WriteOncePool pool = TwoAllocations(out nint a, out _);
        using WriteOncePool other = TwoAllocations(out nint elsewhere, out _, name: "other");
        byte[] copy = new byte[40];
        pool.Read(a, copy);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Read(a, new byte[41]));
        ArgumentException foreign = Assert.Throws<ArgumentException>(() => pool.Read(elsewhere, new byte[8]));
        Assert.Contains("not in this pool", foreign.Message, StringComparison.Ordinal);
        nint outside = (nint)NativeMemory.Alloc(8);
        try
        {
            Assert.Throws<ArgumentException>(() => pool.Read(outside, new byte[8]));
        }
        finally
        {
            NativeMemory.Free((void*)outside);
        }
    }

    [Fact]
    public void Concurrent_checks_while_other_pools_come_and_go_stay_right()
    {
        using WriteOncePool stable = new(new PoolOptions { Name = "usercopy-stable" });
        nint[] addresses = Enumerable.Range(0, 1000).Select(i => stable.Allocate((nuint)(8 + (i % 50)))).ToArray();
        stable.Protect();

        // Churn: pools mapped, filled, freed into, protected and destroyed, so the registry changes under the readers.
        bool done = false;
        nint churned = 0;
        Exception? failure = null;
        Thread churn = new(() =>
        {
            try
            {
                for (int round = 0; round < 300; round++)
                {
                    using WriteOncePool pool = new(new PoolOptions { Name = "usercopy-churn", ChunkSize = Environment.SystemPageSize });
                    nint p = pool.Allocate(100);
                    Volatile.Write(ref churned, p);
                    nint q = pool.Allocate((nuint)Environment.SystemPageSize * 2);
                    Volatile.Write(ref churned, q);
                    pool.Free(q);
                    if (round % 2 == 0)
                    {
                        pool.Protect();
                    }

                    Assert.True(ProtectedMemory.TryGetAllocation(p, out _));
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
            finally
            {
                Volatile.Write(ref done, true);
            }
        });

        Thread[] readers = [.. Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            try
            {
                int i = 0;
                while (!Volatile.Read(ref done))
                {
                    Platform.LetGcIn();
                    nint p = addresses[i++ % addresses.Length];
                    AllocationInfo info = ProtectedMemory.CheckRead(p, 8);
                    Assert.Equal(p, info.Start);
                    Assert.Throws<ArgumentOutOfRangeException>(() => ProtectedMemory.CheckRead(p, info.Size + 1));
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        }))];

        // And one that chases the churning pools' own addresses: whatever it races (a free, an unmap, a destroy), it
        // gets an answer or an ArgumentException, never a crash or a read of freed bitmaps.
        readers = [.. readers, new Thread(() =>
        {
            try
            {
                while (!Volatile.Read(ref done))
                {
                    Platform.LetGcIn();
                    nint p = Volatile.Read(ref churned);
                    try
                    {
                        AllocationInfo info = ProtectedMemory.CheckRead(p, 8);
                        // A destroyed pool's range may be reused by another test's pool at once: any answer must hold the address.
                        Assert.True(info == default || (info.Start <= p && p + 8 <= info.End), $"{info} does not hold 0x{p:x}");
                    }
                    catch (ArgumentException)
                    {
                    }
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        })];

        foreach (Thread t in readers.Prepend(churn))
        {
            t.Start();
        }

        foreach (Thread t in readers.Prepend(churn))
        {
            t.Join();
        }

        Assert.Null(failure);
    }

    /// <summary>Against a model: any range passes if and only if it lies inside one live allocation, after random allocations and frees.</summary>
    [Fact]
    public void CheckRead_agrees_with_a_model_of_live_allocations()
    {
        Gen.Select(Gen.Int[1, 200].Array[1, 60], Gen.Bool.Array[60], Gen.Int[0, 4000].Array[40], Gen.Int[1, 300].Array[40])
            .Sample((sizes, frees, offsets, lengths) =>
            {
                using WriteOncePool pool = new(new PoolOptions { Name = "usercopy-model", Alignment = 8 });
                List<(nint Start, int Size)> live = [];
                for (int i = 0; i < sizes.Length; i++)
                {
                    live.Add((pool.Allocate((nuint)sizes[i]), sizes[i]));
                }

                for (int i = live.Count - 1; i >= 0; i--)
                {
                    if (frees[i] && live.Count > 1)
                    {
                        pool.Free(live[i].Start);
                        live.RemoveAt(i);
                    }
                }

                nint origin = pool.Chunks[0].Start;
                for (int i = 0; i < offsets.Length; i++)
                {
                    nint address = origin + offsets[i];
                    int length = lengths[i];
                    var holder = live.Find(l => address >= l.Start && address + length <= l.Start + l.Size);
                    if (holder.Start != 0)
                    {
                        Assert.Equal(new AllocationInfo("usercopy-model", holder.Start, (nuint)holder.Size), ProtectedMemory.CheckRead(address, (nuint)length));
                    }
                    else
                    {
                        Assert.ThrowsAny<ArgumentException>(() => ProtectedMemory.CheckRead(address, (nuint)length));
                    }
                }
            }, iter: 200);
    }
}

/// <summary>The usercopy edge that needs foreign memory right below a pool: run alone, so that no other test maps a pool there meanwhile.</summary>
[Collection(SerialCollection.Name)]
public sealed class UsercopyEdgeTests
{
    [Fact]
    public void A_range_running_into_a_pool_from_outside_is_refused()
    {
        // The 8 bytes just below the leading guard page must belong to no pool: a sealed pool of an earlier test, which
        // lives until exit, may be mapped right there, so map again until it is not. (Serial: a test running in parallel
        // could map a pool there between that check and the assertions; one did, on arm64.)
        List<WriteOncePool> pools = [];
        nint a, outside;
        do
        {
            WriteOncePool candidate = new(new PoolOptions { Name = "usercopy-edge", GuardPages = true });
            pools.Add(candidate);
            a = candidate.Allocate(16);
            candidate.Protect();
            outside = a - Environment.SystemPageSize - 8;
        }
        while (TouchesAPool(outside, 8) && pools.Count < 20);

        using WriteOncePool pool = pools[^1];
        pools.RemoveAt(pools.Count - 1);
        pools.ForEach(p => p.Dispose());
        Assert.Throws<ArgumentOutOfRangeException>(() => ProtectedMemory.CheckRead(outside, (nuint)Environment.SystemPageSize + 16));
        Assert.Throws<InvalidOperationException>(() => ProtectedMemory.CheckWrite(outside, (nuint)Environment.SystemPageSize + 16));
        Assert.Equal(default, ProtectedMemory.CheckRead(outside, 8));
    }

    /// <summary>Does [address, +length) touch any chunk reservation in the registry?</summary>
    private static bool TouchesAPool(nint address, nuint length) =>
        ChunkRegistry.Current.FirstEndingAfter(unchecked((nuint)address)) is { } e && unchecked((nuint)e.Start) < unchecked((nuint)address + length);
}
