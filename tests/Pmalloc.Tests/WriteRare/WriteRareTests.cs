using System.Globalization;
using System.Runtime.CompilerServices;

namespace Pmalloc.Tests;

/// <summary>
/// Write-rare pools: the data of a protected pool still changes through Write, Fill, Publish and batches, and only through
/// them; the public mapping is never writable, no alias outlives a call, misuse changes nothing, MakeReadOnly is final.
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
        using (WriteRareBatch batch = pool.BeginWrites())
        {
            batch.Write(p + 24, [1, 2, 3]);
            Assert.Equal(0, TestPools.AliasCount(pool)); // nothing to alias: the memory is writable
        }

        Assert.Equal(3, *(byte*)(p + 26));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Write(p + 60, new byte[8]));
        Assert.All(TestPools.MapsLinesOf(pool.Name), line => Assert.Contains(" rw-s ", line, StringComparison.Ordinal));
    }

    [Fact]
    public void The_public_mapping_is_never_writable_and_no_alias_outlives_a_call()
    {
        using WriteRarePool pool = ProtectedPoolWithBigAllocation(out nint big);
        (nint Start, nint End)[] publicRanges = pool.Chunks.Select(c => (c.Start, c.End)).ToArray();
        int chunks = pool.Statistics.Chunks;
        Assert.Equal(chunks, TestPools.MapsLinesOf(pool.Name).Length);

        string? violation = null;
        int samples = 0;
        bool stop = false;
        Thread sampler = new(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                foreach (string line in File.ReadLines("/proc/self/maps"))
                {
                    (nint start, nint end, string perms) = ParseMapsLine(line);
                    if (perms.Contains('w', StringComparison.Ordinal) && publicRanges.Any(r => start < r.End && r.Start < end))
                    {
                        violation ??= line;
                    }
                }

                Interlocked.Increment(ref samples);
            }
        });
        sampler.Start();
        try
        {
            byte[] buffer = new byte[40];
            for (int i = 0; i < 2000; i++)
            {
                // Spread the targets over all four pages, some across a page boundary.
                nint target = big + (((i * 997) + (i % 3 * (Page - 20))) % ((3 * Page) + 100 - 40)) & ~7;
                switch (i % 4)
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
                        pool.Write(in *(long*)target, (long)i);
                        Assert.Equal(i, *(long*)target);
                        break;
                    default:
                        pool.Publish(in *(nint*)target, i);
                        Assert.Equal((nint)i, *(nint*)target);
                        break;
                }

                Assert.Equal(chunks, TestPools.MapsLinesOf(pool.Name).Length);
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            sampler.Join();
        }

        Assert.Null(violation);
        Assert.True(samples > 0);
        Assert.All(TestPools.MapsLinesOf(pool.Name), line => Assert.Contains(" r--s ", line, StringComparison.Ordinal));
    }

    [Fact]
    public void A_batch_maps_one_alias_per_touched_chunk_and_unmaps_them_when_disposed()
    {
        using WriteRarePool pool = NewPool(chunkSize: Page);
        nint[] slots = Enumerable.Range(0, (3 * Page / 64) + 8).Select(_ => pool.Allocate(64)).ToArray(); // over 3 pages: at least 3 one-page chunks
        pool.Protect();
        int chunks = pool.Statistics.Chunks;
        Assert.True(chunks >= 3);

        WriteRareBatch batch = pool.BeginWrites();
        batch.Write(in *(long*)slots[0], 1L);
        batch.Write(in *(long*)slots[1], 2L);
        Assert.Equal(1, TestPools.AliasCount(pool));
        for (int i = 0; i < slots.Length; i++)
        {
            batch.Write(in *(long*)slots[i], (long)i * 3);
            batch.Fill(slots[i] + 8, unchecked((byte)i), 8);
            batch.Publish(in *(nint*)(slots[i] + 16), i);
        }

        Assert.Equal(chunks, TestPools.AliasCount(pool));

        // Back to the first chunk after the others: its alias is reused, not mapped again.
        batch.Write(in *(long*)slots[0], 99L);
        Assert.Equal(99L, *(long*)slots[0]);
        batch.Write(in *(long*)slots[0], 0L);
        Assert.Equal(chunks, TestPools.AliasCount(pool));
        Assert.Equal(2 * chunks, TestPools.MapsLinesOf(pool.Name).Length);
        Assert.Equal(chunks, TestPools.MapsLinesOf(pool.Name).Count(l => l.Contains(" r--s ", StringComparison.Ordinal)));

        batch.Dispose();
        batch.Dispose(); // a no-op
        Assert.Equal(chunks, TestPools.MapsLinesOf(pool.Name).Length);
        for (int i = 0; i < slots.Length; i++)
        {
            Assert.Equal((long)i * 3, *(long*)slots[i]);
            Assert.True(new ReadOnlySpan<byte>((void*)(slots[i] + 8), 8).IndexOfAnyExcept(unchecked((byte)i)) < 0);
            Assert.Equal(i, *(nint*)(slots[i] + 16));
        }

        ObjectDisposedException e = Assert.Throws<ObjectDisposedException>(() => batch.Write(slots[0], new byte[8]));
        Assert.Contains($"'{pool.Name}'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"0x{slots[0]:x}", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, *(long*)slots[0]);
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
        batch.Write(p + 10, new ReadOnlySpan<byte>((void*)p, 100));
        Assert.Equal(expected[..50], new ReadOnlySpan<byte>((void*)(p + 10), 50).ToArray());
    }

    [Fact]
    public void MakeReadOnly_ends_writes_for_good_and_gives_up_the_memfds()
    {
        using WriteRarePool pool = NewPool(chunkSize: Page);
        nint p = pool.Allocate(64);
        nint q = pool.Allocate((nuint)(2 * Page)); // a second chunk
        pool.Protect();
        pool.Write(p, [1, 2, 3]);
        WriteRareBatch batch = pool.BeginWrites();
        batch.Write(q, [4]);
        Assert.Equal(1, MemfdsOf(pool.Name)); // one memfd for the pool, however many chunks
        Assert.Equal(3, TestPools.MapsLinesOf(pool.Name).Length); // two chunks and the batch's alias

        pool.MakeReadOnly();
        Assert.True(pool.IsReadOnly);
        Assert.Equal(PoolState.Protected, pool.State);
        Assert.Equal(0, MemfdsOf(pool.Name));
        Assert.Equal(2, TestPools.MapsLinesOf(pool.Name).Length); // the open batch was ended
        pool.MakeReadOnly(); // a no-op

        PoolStatistics before = pool.Statistics;
        Action[] writes =
        [
            () => pool.Write(p, [9]),
            () => pool.Write(in *(long*)p, 9L),
            () => pool.Fill(p, 9, 8),
            () => pool.Publish(in *(nint*)p, 9),
            () => batch.Write(q, [9]),
            () => batch.Publish(in *(nint*)q, 9),
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
        Assert.Equal(4, *(byte*)q);
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
        Assert.Empty(TestPools.MapsLinesOf(pool.Name)); // the batch's alias too
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
            () => pool.BeginWrites(),
            () => pool.MakeReadOnly(),
            () => batch.Write(p, [1]),
            () => batch.Write(in *(long*)p, 1L),
            () => batch.Fill(p, 1, 1),
            () => batch.Publish(in *(nint*)p, 1),
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
        string[] writeMethods = ["Write", "Fill", "Publish", "BeginWrites", "MakeReadOnly"];
        Assert.DoesNotContain(typeof(WriteOncePool).GetMethods(), m => writeMethods.Contains(m.Name));
        Assert.DoesNotContain(typeof(ProtectablePool).GetMethods(), m => writeMethods.Contains(m.Name));
        Assert.False(typeof(WriteRarePool).IsAssignableTo(typeof(WriteOncePool)));
    }

    [Theory]
    [InlineData("write-rare-pointer")]
    [InlineData("write-rare-batch-alias-after-dispose")]
    [InlineData("write-rare-after-make-read-only")]
    public void A_stray_write_into_a_write_rare_pool_kills_the_child(string scenario)
    {
        ChildResult result = Child.Run(scenario);
        if (result.StandardOutput.Contains(ChildScenarios.AliasReusedMarker, StringComparison.Ordinal))
        {
            // The batch's alias was unmapped (the child checked: no pool mapping is there), and an unrelated mapping took
            // the range before the stray write could try it.
            return;
        }

        Child.AssertDiedOfAccessViolation(result);
    }

    /// <summary>How many of this process's descriptors are memfds of the pool named <paramref name="name"/>.</summary>
    internal static int MemfdsOf(string name) =>
        Directory.EnumerateFiles("/proc/self/fd").Count(fd => ReadLink(fd) == $"/memfd:pmalloc:{name} (deleted)");

    /// <summary>Opens the pool's (first) memfd again through /proc/self/fd, read-only.</summary>
    internal static FileStream OpenMemfdOf(string name)
    {
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

    private static (nint Start, nint End, string Perms) ParseMapsLine(string line)
    {
        string[] fields = line.Split(' ', 3);
        string[] range = fields[0].Split('-');
        return ((nint)long.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            (nint)long.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture), fields[1]);
    }
}
