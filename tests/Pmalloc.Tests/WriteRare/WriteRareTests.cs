using System.Runtime.CompilerServices;

namespace Pmalloc.Tests;

/// <summary>
/// Write-rare pools: the data of a protected pool still changes through Write, Fill, Publish, Add, CompareExchange and
/// batches, and only through them; no mapping of it is ever writable in this process, misuse changes nothing,
/// MakeReadOnly is final.
/// </summary>
public sealed unsafe class WriteRareTests
{
    private static readonly int Page = Environment.SystemPageSize;

    private static WriteRarePool NewPool(int chunkSize = 64 * 1024, [CallerMemberName] string test = "") =>
        new(new PoolOptions { Name = TestPools.UniqueName(test), ChunkSize = chunkSize });

    /// <summary>A protected pool with one allocation of three pages and a bit, so writes can cross two page boundaries.</summary>
    private static WriteRarePool ProtectedPoolWithBigAllocation(out nint big, [CallerMemberName] string test = "")
    {
        WriteRarePool pool = NewPool(test: test);
        pool.Allocate(48); // so the big allocation does not start on a page boundary
        big = pool.Allocate((nuint)(3 * Page) + 100);
        pool.Protect();
        return pool;
    }

    private struct Pair
    {
        public long A;
        public long B;
    }

    [Fact]
    public void Every_call_writes_what_is_read_back_through_the_public_pointer_across_pages()
    {
        using WriteRarePool pool = ProtectedPoolWithBigAllocation(out nint big);
        nint boundary = big + (Page - (int)(big % Page)); // the first page boundary inside the allocation
        Assert.InRange(boundary, big + 1, big + (2 * Page));

        // Write: 300 bytes straddling a page boundary.
        byte[] data = Enumerable.Range(0, 300).Select(i => unchecked((byte)(i * 7))).ToArray();
        pool.Write(boundary - 150, data);
        Assert.Equal(data, new ReadOnlySpan<byte>((void*)(boundary - 150), 300).ToArray());

        // Fill: two whole pages and more, crossing two boundaries.
        pool.Fill(boundary - 10, 0xAB, (nuint)(2 * Page) + 20);
        Assert.True(new ReadOnlySpan<byte>((void*)(boundary - 10), (2 * Page) + 20).IndexOfAnyExcept((byte)0xAB) < 0);
        Assert.Equal(data[..140], new ReadOnlySpan<byte>((void*)(boundary - 150), 140).ToArray()); // the bytes before are kept

        // Write<T>: a 16-byte value whose halves lie on two pages.
        ref Pair pair = ref *(Pair*)(boundary - 8);
        pool.Write(in pair, new Pair { A = 0x1111_2222_3333_4444, B = 0x5555_6666_7777_0000 });
        Assert.Equal(0x1111_2222_3333_4444, pair.A);
        Assert.Equal(0x5555_6666_7777_0000, pair.B);

        // Publish: the last word of a page and the first of the next.
        pool.Publish(in *(nint*)(boundary - 8), 0x1234);
        pool.Publish(in *(nint*)boundary, 0x5678);
        Assert.Equal(0x1234, *(nint*)(boundary - 8));
        Assert.Equal(0x5678, *(nint*)boundary);

        // The last byte of the allocation is a valid target.
        nint last = big + (3 * Page) + 99;
        pool.Write(last, [0x42]);
        Assert.Equal(0x42, *(byte*)last);
        pool.ValidateInvariants();
    }

    [Fact]
    public void Before_Protect_the_same_calls_are_checked_plain_stores()
    {
        using WriteRarePool pool = NewPool();
        nint p = pool.Allocate(64);
        ref long slot = ref *(long*)p;
        pool.Write(in slot, 7L);
        Assert.Equal(7, slot);
        pool.Fill(p + 8, 0xCD, 8);
        Assert.Equal(unchecked((long)0xCDCDCDCDCDCDCDCD), *(long*)(p + 8));
        pool.Publish(in *(nint*)(p + 16), 99);
        Assert.Equal(99, *(nint*)(p + 16));
        Assert.Equal(10, pool.Add(in *(long*)(p + 32), 10));
        Assert.Equal(10, pool.CompareExchange(in *(long*)(p + 32), 20, 10));
        Assert.Equal(20, *(long*)(p + 32));
        using (WriteRareBatch batch = pool.BeginWrites())
        {
            batch.Write(p + 24, [1, 2, 3]);
            Assert.Equal(3, *(byte*)(p + 26)); // visible at once: a plain store
            Assert.Equal(0, batch.PendingCount);
        }

        Assert.Equal(0, pool.WriterMappings); // nothing for the writer process to do before Protect
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Write(p + 60, new byte[8]));
        Assert.All(TestPools.MapsLinesOf(pool.Name), line => Assert.Contains(" rw-s ", line, StringComparison.Ordinal));
    }

    [Fact]
    public void Each_call_leaves_the_pool_with_its_read_only_chunk_mappings_only()
    {
        using WriteRarePool pool = ProtectedPoolWithBigAllocation(out nint big);
        int chunks = pool.Statistics.Chunks;
        string[] before = TestPools.MapsLinesOf(pool.Name);
        Assert.Equal(chunks, before.Length);
        byte[] buffer = new byte[40];
        for (int i = 0; i < 200; i++)
        {
            nint target = big + ((i * 997) % ((3 * Page) + 100 - 40)) & ~7;
            switch (i % 6)
            {
                case 0:
                    buffer.AsSpan().Fill(unchecked((byte)i));
                    pool.Write(target, buffer);
                    Assert.True(new ReadOnlySpan<byte>((void*)target, 40).IndexOfAnyExcept(unchecked((byte)i)) < 0);
                    break;
                case 1:
                    pool.Fill(target, unchecked((byte)i), 40);
                    Assert.True(new ReadOnlySpan<byte>((void*)target, 40).IndexOfAnyExcept(unchecked((byte)i)) < 0);
                    break;
                case 2:
                    pool.Publish(in *(nint*)target, i);
                    Assert.Equal((nint)i, *(nint*)target);
                    break;
                case 3:
                    long old = *(long*)target;
                    Assert.Equal(old + i, pool.Add(in *(long*)target, i));
                    break;
                case 4:
                    long now = *(long*)target;
                    Assert.Equal(now, pool.CompareExchange(in *(long*)target, -i, now));
                    Assert.Equal(-i, *(long*)target);
                    break;
                default:
                    using (WriteRareBatch batch = pool.BeginWrites())
                    {
                        batch.Write(in *(long*)target, (long)i);
                        batch.Fill(target + 8, 7, 8);
                    }

                    Assert.Equal(i, *(long*)target);
                    break;
            }

            Assert.Equal(before, TestPools.MapsLinesOf(pool.Name));
        }

        Assert.All(TestPools.MapsLinesOf(pool.Name), line => Assert.Contains(" r--s ", line, StringComparison.Ordinal));
    }

    [Fact]
    public void Publish_is_seen_whole_by_a_reader_spinning_on_the_slot()
    {
        // The published values point at blocks written before they were published: a reader that sees a pointer must see its block.
        using WriteOncePool blocks = TestPools.NewPool();
        nint[] published = new nint[2001];
        for (int i = 1; i < published.Length; i++)
        {
            published[i] = blocks.Allocate(64);
            *(int*)published[i] = i;
            TestPools.Fill(published[i] + 4, 60, i);
        }

        blocks.Protect();
        HashSet<nint> valid = [0, .. published[1..]];

        using WriteRarePool pool = NewPool();
        nint* slot = (nint*)Unsafe.AsPointer(ref pool.Allocate<nint>());
        pool.Protect();

        string? error = null;
        long reads = 0;
        bool done = false;
        Thread reader = new(() =>
        {
            nint previous = 0;
            int previousIndex = 0;
            while (!Volatile.Read(ref done))
            {
                Platform.LetGcIn();
                nint seen = Volatile.Read(ref *slot);
                reads++;
                if (seen == previous)
                {
                    continue;
                }

                int index = *(int*)seen;
                if (!valid.Contains(seen) || index < previousIndex || !TestPools.HasPattern(seen + 4, 60, index))
                {
                    error ??= $"read {seen:x} (index {index}) after {previous:x} (index {previousIndex})";
                }

                (previous, previousIndex) = (seen, index);
            }
        });
        reader.Start();
        for (int i = 1; i < published.Length; i++)
        {
            pool.Publish(in *slot, published[i]);
        }

        Volatile.Write(ref done, true);
        reader.Join();
        Assert.Null(error);
        Assert.True(reads > 0);
        Assert.Equal(published[^1], *slot);
    }

    [Fact]
    public void Targets_outside_one_live_allocation_of_this_pool_are_refused_and_nothing_changes()
    {
        using WriteRarePool pool = NewPool();
        using WriteRarePool other = NewPool();
        nint a = pool.Allocate(64);
        nint b = pool.Allocate(64); // right after a: granules are 16 bytes
        nint freed = pool.Allocate(64);
        nint c = pool.Allocate(64);
        nint short60 = pool.Allocate(60);
        pool.Free(freed);
        nint foreign = other.Allocate(64);
        nint outside = (nint)System.Runtime.InteropServices.NativeMemory.AllocZeroed(64);
        TestPools.Fill(a, 64, 1);
        TestPools.Fill(b, 64, 2);
        TestPools.Fill(c, 64, 3);
        pool.Protect();
        other.Protect();
        Assert.Equal(a + 64, b);

        byte[] eight = [9, 9, 9, 9, 9, 9, 9, 9];
        foreach (WriteRareBatch? batch in new[] { null, pool.BeginWrites() })
        {
            Action<nint, byte[]> write = batch is null ? (t, s) => pool.Write(t, s) : (t, s) => batch.Write(t, s);
            Action<nint, nuint> fill = batch is null ? (t, n) => pool.Fill(t, 9, n) : (t, n) => batch.Fill(t, 9, n);
            Action<nint> publish = batch is null ? t => pool.Publish(in *(nint*)t, 9) : t => batch.Publish(in *(nint*)t, 9);
            Action<nint> add = batch is null ? t => pool.Add(in *(long*)t, 9) : t => batch.Add(in *(long*)t, 9);
            Action<nint> exchange = batch is null ? t => pool.CompareExchange(in *(long*)t, 9, 0) : t => batch.CompareExchange(in *(long*)t, 9, 0);

            AssertRefused<ArgumentOutOfRangeException>(pool, () => write(a + 60, eight), a + 60);        // past the end
            AssertRefused<ArgumentOutOfRangeException>(pool, () => fill(a + 32, 64), a + 32);            // across into b
            AssertRefused<ArgumentOutOfRangeException>(pool, () => write(a, new byte[128]), a);          // the two allocations
            AssertRefused<ArgumentException>(pool, () => write(freed, eight), freed);                   // freed memory
            AssertRefused<ArgumentException>(pool, () => fill(freed + 8, 8), freed + 8);
            AssertRefused<ArgumentException>(pool, () => publish(freed), freed);
            AssertRefused<ArgumentException>(pool, () => write(foreign, eight), foreign);               // another pool
            AssertRefused<ArgumentException>(pool, () => publish(foreign), foreign);
            AssertRefused<ArgumentException>(pool, () => write((nint)0x1000, eight), 0x1000);          // nowhere
            AssertRefused<ArgumentException>(pool, () => publish(a + 4), a + 4);                       // misaligned
            AssertRefused<ArgumentOutOfRangeException>(pool, () => publish(short60 + 56), short60 + 56); // crosses the exact end
            AssertRefused<ArgumentException>(pool, () => pool.Write(in *(long*)outside, 5L), outside);  // native memory
            foreach (Action<nint> atomic in new[] { add, exchange })
            {
                AssertRefused<ArgumentException>(pool, () => atomic(a + 4), a + 4);                      // misaligned
                AssertRefused<ArgumentOutOfRangeException>(pool, () => atomic(short60 + 56), short60 + 56); // crosses the exact end
                AssertRefused<ArgumentException>(pool, () => atomic(freed), freed);
                AssertRefused<ArgumentException>(pool, () => atomic(foreign), foreign);
                AssertRefused<ArgumentException>(pool, () => atomic(outside), outside);
            }

            Assert.Equal(0, batch?.PendingCount ?? 0); // nothing refused was held
            batch?.Dispose();
        }

        Assert.True(TestPools.HasPattern(a, 64, 1));
        Assert.True(TestPools.HasPattern(b, 64, 2));
        Assert.True(TestPools.HasPattern(c, 64, 3));
        Assert.True(TestPools.IsZero(freed, 64));
        Assert.True(TestPools.IsZero(foreign, 64));
        Assert.True(TestPools.IsZero(short60, 60));
        Assert.True(TestPools.IsZero(outside, 64));
        System.Runtime.InteropServices.NativeMemory.Free((void*)outside);
    }

    private static void AssertRefused<TException>(WriteRarePool pool, Action misuse, nint address)
        where TException : Exception
    {
        PoolStatistics before = pool.Statistics;
        TException e = Assert.Throws<TException>(misuse);
        Assert.Contains($"'{pool.Name}'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"0x{address:x}", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, pool.Statistics);
        pool.ValidateInvariants();
    }

    [Fact]
    public void A_source_inside_the_target_range_is_copied_like_memmove()
    {
        using WriteRarePool pool = NewPool();
        nint p = pool.Allocate(256);
        TestPools.Fill(p, 256, 5);
        byte[] expected = new ReadOnlySpan<byte>((void*)p, 200).ToArray();
        pool.Protect();
        pool.Write(p + 50, new ReadOnlySpan<byte>((void*)p, 200));
        Assert.Equal(expected, new ReadOnlySpan<byte>((void*)(p + 50), 200).ToArray());
        using WriteRareBatch batch = pool.BeginWrites();
        batch.Write(p + 10, new ReadOnlySpan<byte>((void*)p, 100)); // the source is read at the call
        batch.Flush();
        Assert.Equal(expected[..50], new ReadOnlySpan<byte>((void*)(p + 10), 50).ToArray());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MakeReadOnly_flushes_and_ends_batches_drops_the_writer_mappings_and_ends_writes_for_good(bool wipeOnDestroy)
    {
        using WriteRarePool pool = new(new PoolOptions { Name = TestPools.UniqueName(), ChunkSize = Page, WipeOnDestroy = wipeOnDestroy });
        nint p = pool.Allocate(64);
        nint q = pool.Allocate((nuint)(2 * Page)); // a second chunk
        pool.Protect();
        pool.Write(p, [1, 2, 3]);
        pool.Publish(in *(nint*)(p + 8), 5);
        pool.Add(in *(long*)q, 6);
        Assert.Equal(2, pool.WriterMappings);
        WriteRareBatch batch = pool.BeginWrites();
        batch.Write(q + 8, [4]);
        Assert.Equal(0, *(byte*)(q + 8)); // held
        Assert.Equal(1, MemfdsOf(pool.Name)); // one memfd for the pool, however many chunks
        Assert.Equal(2, TestPools.MapsLinesOf(pool.Name).Length); // two chunks, no alias

        pool.MakeReadOnly();
        Assert.True(pool.IsReadOnly);
        Assert.Equal(PoolState.Protected, pool.State);
        Assert.Equal(4, *(byte*)(q + 8)); // the open batch was flushed, then ended
        Assert.Equal(0, pool.WriterMappings);

        // No descriptor is left: Dispose's wipe gives the pages back through the read-only mappings (MADV_REMOVE).
        Assert.Equal(0, MemfdsOf(pool.Name));
        Assert.Equal(2, TestPools.MapsLinesOf(pool.Name).Length);
        pool.MakeReadOnly(); // a no-op

        PoolStatistics before = pool.Statistics;
        Action[] writes =
        [
            () => pool.Write(p, [9]),
            () => pool.Write(in *(long*)p, 9L),
            () => pool.Fill(p, 9, 8),
            () => pool.Publish(in *(nint*)p, 9),
            () => pool.Add(in *(long*)p, 9),
            () => pool.CompareExchange(in *(long*)p, 9, 0),
            () => batch.Write(q, [9]),
            () => batch.Publish(in *(nint*)q, 9),
            () => batch.Add(in *(long*)q, 9),
            () => batch.Flush(),
        ];
        foreach (Action write in writes)
        {
            InvalidOperationException e = Assert.Throws<InvalidOperationException>(write);
            Assert.Contains($"'{pool.Name}'", e.Message, StringComparison.Ordinal);
            Assert.Contains("MakeReadOnly", e.Message, StringComparison.Ordinal);
        }

        Assert.Contains($"'{pool.Name}'", Assert.Throws<InvalidOperationException>(() => pool.BeginWrites()).Message, StringComparison.Ordinal);
        Assert.Equal(before, pool.Statistics);
        Assert.Equal([1, 2, 3], new ReadOnlySpan<byte>((void*)p, 3).ToArray());
        Assert.Equal(5, *(nint*)(p + 8));
        Assert.Equal(6, *(long*)q);
        batch.Dispose(); // harmless after the pool ended it
    }

    [Fact]
    public void MakeReadOnly_before_Protect_also_protects()
    {
        using WriteRarePool pool = NewPool();
        nint p = pool.Allocate(16);
        *(long*)p = 5;
        pool.MakeReadOnly();
        Assert.Equal(PoolState.Protected, pool.State);
        Assert.All(TestPools.MapsLinesOf(pool.Name), line => Assert.Contains(" r--s ", line, StringComparison.Ordinal));
        Assert.Throws<InvalidOperationException>(() => pool.Allocate(16));
        Assert.Throws<InvalidOperationException>(() => pool.Write(p, [1]));
        Assert.Equal(5, *(long*)p);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Dispose_wipes_a_protected_pool_with_or_without_its_memfd_and_leaves_nothing_behind(bool madeReadOnly)
    {
        WriteRarePool pool = NewPool();
        nint p = pool.Allocate(100);
        TestPools.Fill(p, 100, 8);
        pool.Protect();
        WriteRareBatch batch = pool.BeginWrites();
        batch.Write(p, [1]);

        // Our own descriptor of the chunk's memfd: it outlives the pool, so we can look at the memory after Dispose.
        using FileStream memory = OpenMemfdOf(pool.Name);
        if (madeReadOnly)
        {
            pool.MakeReadOnly();
        }

        pool.Dispose();
        Assert.Empty(TestPools.MapsLinesOf(pool.Name));
        Assert.Equal(1, MemfdsOf(pool.Name)); // ours only
        byte[] contents = new byte[Page];
        memory.ReadExactly(contents);
        Assert.True(contents.AsSpan().IndexOfAnyExcept((byte)0) < 0);
        Assert.Throws<ObjectDisposedException>(() => batch.Write(p, [1]));
    }

    [Fact]
    public void Every_write_call_after_Dispose_throws_ObjectDisposedException_naming_the_pool()
    {
        WriteRarePool pool = NewPool();
        nint p = pool.Allocate(16);
        pool.Protect();
        WriteRareBatch batch = pool.BeginWrites();
        pool.Dispose();
        Action[] calls =
        [
            () => pool.Write(p, [1]),
            () => pool.Write(in *(long*)p, 1L),
            () => pool.Fill(p, 1, 1),
            () => pool.Publish(in *(nint*)p, 1),
            () => pool.Add(in *(long*)p, 1),
            () => pool.CompareExchange(in *(long*)p, 1, 0),
            () => pool.BeginWrites(),
            () => pool.MakeReadOnly(),
            () => batch.Write(p, [1]),
            () => batch.Write(in *(long*)p, 1L),
            () => batch.Fill(p, 1, 1),
            () => batch.Publish(in *(nint*)p, 1),
            () => batch.Add(in *(long*)p, 1),
            () => batch.CompareExchange(in *(long*)p, 1, 0),
            () => batch.Flush(),
        ];
        foreach (Action call in calls)
        {
            ObjectDisposedException e = Assert.Throws<ObjectDisposedException>(call);
            Assert.Contains($"'{pool.Name}'", e.Message, StringComparison.Ordinal);
        }

        batch.Dispose(); // a no-op
        pool.Dispose(); // a no-op
    }

    [Fact]
    public void WriteOncePool_has_no_write_method()
    {
        string[] writeMethods = ["Write", "Fill", "Publish", "Add", "CompareExchange", "BeginWrites", "MakeReadOnly"];
        Assert.DoesNotContain(typeof(WriteOncePool).GetMethods(), m => writeMethods.Contains(m.Name));
        Assert.DoesNotContain(typeof(ProtectablePool).GetMethods(), m => writeMethods.Contains(m.Name));
        Assert.False(typeof(WriteRarePool).IsAssignableTo(typeof(WriteOncePool)));
    }

    [Theory]
    [InlineData("write-rare-pointer")]
    [InlineData("write-rare-pointer-during-batch")]
    [InlineData("write-rare-after-make-read-only")]
    public void A_stray_write_into_a_write_rare_pool_kills_the_child(string scenario)
    {
        Child.AssertFaults(scenario);
    }

    /// <summary>How many of this process's descriptors are memfds of the pool named <paramref name="name"/>.</summary>
    internal static int MemfdsOf(string name)
    {
        Platform.RequireLinux("reads /proc/self/fd");
        return Directory.EnumerateFiles("/proc/self/fd").Count(fd => ReadLink(fd) == $"/memfd:pmalloc:{name} (deleted)");
    }

    /// <summary>Opens the pool's (first) memfd again through /proc/self/fd, read-only.</summary>
    internal static FileStream OpenMemfdOf(string name)
    {
        Platform.RequireLinux("reads /proc/self/fd");
        string fd = Directory.EnumerateFiles("/proc/self/fd").First(fd => ReadLink(fd) == $"/memfd:pmalloc:{name} (deleted)");
        return new FileStream(fd, FileMode.Open, FileAccess.Read);
    }

    private static string? ReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (IOException)
        {
            return null; // closed in the meantime
        }
    }
}
