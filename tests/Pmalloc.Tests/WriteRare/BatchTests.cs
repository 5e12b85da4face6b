using System.Runtime.CompilerServices;

namespace Pmalloc.Tests;

/// <summary>
/// Batches after Protect: writes checked at the call and held, invisible until the flush (Flush, Dispose, an atomic
/// call through the batch, MakeReadOnly), then written in call order with as few pwrite calls as the gaps allow.
/// </summary>
public sealed unsafe class BatchTests
{
    private static readonly int Page = Environment.SystemPageSize;

    private static WriteRarePool NewPool(int chunkSize = 64 * 1024, bool excludeFromCoreDumps = false, [CallerMemberName] string test = "") =>
        new(new PoolOptions { Name = TestPools.UniqueName(test), ChunkSize = chunkSize, ExcludeFromCoreDumps = excludeFromCoreDumps });

    [Fact]
    public void Held_writes_are_invisible_until_the_flush_and_then_all_land_in_call_order()
    {
        using WriteRarePool pool = NewPool();
        long* slots = (long*)pool.Allocate(16 * sizeof(long));
        pool.Protect();

        using WriteRareBatch batch = pool.BeginWrites();
        for (int i = 0; i < 16; i++)
        {
            batch.Write(in slots[i], (long)i + 1);
        }

        batch.Write(in slots[3], 300L);                  // a later write to the same bytes wins
        batch.Fill((nint)(slots + 5), 0xEE, 2 * sizeof(long));
        batch.Write((nint)(slots + 6), [0x11]);          // over the fill: one byte
        Assert.Equal(19, batch.PendingCount);
        Assert.True(TestPools.IsZero((nint)slots, 16 * sizeof(long)));

        batch.Flush();
        Assert.Equal(0, batch.PendingCount);
        Assert.Equal(1, batch.LastFlushCalls);           // one run: 128 contiguous bytes, one pwrite
        Assert.Equal([1L, 2, 3, 300, 5, unchecked((long)0xEEEEEEEEEEEEEEEE), unchecked((long)0xEEEEEEEEEEEEEE11), 8, 9, 10, 11, 12, 13, 14, 15, 16],
            new ReadOnlySpan<long>(slots, 16).ToArray());

        // The batch stays open after a flush.
        batch.Write(in slots[0], 42L);
        Assert.Equal(1, *slots);
        batch.Dispose();
        Assert.Equal(42, *slots);
    }

    [Fact]
    public void Writes_to_different_allocations_close_together_share_one_pwrite_and_far_apart_do_not()
    {
        using WriteRarePool pool = NewPool();
        nint[] near = [.. Enumerable.Range(0, 100).Select(_ => pool.Allocate(sizeof(long)))];   // 16-byte granules: 8-byte gaps
        nint gap = pool.Allocate((nuint)(3 * PendingWrites.Gap));
        nint far = pool.Allocate(sizeof(long));
        TestPools.Fill(gap, (nuint)(3 * PendingWrites.Gap), 9);
        pool.Protect();

        using (WriteRareBatch batch = pool.BeginWrites())
        {
            for (int i = near.Length - 1; i >= 0; i--)
            {
                batch.Write(in *(long*)near[i], (long)i); // in reverse: the flush sorts by address
            }

            batch.Write(in *(long*)far, -1L);
            batch.Flush();
            Assert.Equal(2, batch.LastFlushCalls); // the hundred as one run, the far one alone
        }

        for (int i = 0; i < near.Length; i++)
        {
            Assert.Equal(i, *(long*)near[i]);
        }

        Assert.Equal(-1, *(long*)far);
        Assert.True(TestPools.HasPattern(gap, (nuint)(3 * PendingWrites.Gap), 9)); // the bytes between kept their value
    }

    [Fact]
    public void A_batch_over_several_chunks_writes_each_and_overlaps_resolve_in_call_order()
    {
        using WriteRarePool pool = NewPool(chunkSize: Page);
        nint[] slots = [.. Enumerable.Range(0, (3 * Page / 64) + 8).Select(_ => pool.Allocate(64))]; // over 3 pages: at least 3 one-page chunks
        pool.Protect();
        Assert.True(pool.Statistics.Chunks >= 3);

        using WriteRareBatch batch = pool.BeginWrites();
        for (int i = 0; i < slots.Length; i++)
        {
            batch.Fill(slots[i], unchecked((byte)i), 64);
            batch.Write(in *(long*)(slots[i] + 8), (long)i * 3);
        }

        batch.Write(slots[0], [0xAA, 0xBB]);
        batch.Fill(slots[0] + 1, 0xCC, 1); // after the write: wins over its second byte
        Assert.True(TestPools.IsZero(slots[^1], 64));
        batch.Flush();
        Assert.Equal(pool.Statistics.Chunks, batch.LastFlushCalls); // one run per chunk
        Assert.Equal([0xAA, 0xCC], new ReadOnlySpan<byte>((void*)slots[0], 2).ToArray());
        for (int i = 1; i < slots.Length; i++)
        {
            Assert.Equal((long)i * 3, *(long*)(slots[i] + 8));
            Assert.True(new ReadOnlySpan<byte>((void*)(slots[i] + 16), 48).IndexOfAnyExcept(unchecked((byte)i)) < 0);
        }
    }

    [Fact]
    public void An_atomic_call_through_a_batch_flushes_it_first()
    {
        using WriteRarePool pool = NewPool();
        long* data = (long*)pool.Allocate(64);
        ref nint root = ref pool.Allocate<nint>();
        ref long counter = ref pool.Allocate<long>();
        pool.Protect();

        using WriteRareBatch batch = pool.BeginWrites();
        batch.Write(in data[0], 7L);
        batch.Publish(in root, (nint)data);       // the data it points to is written first
        Assert.Equal(7, data[0]);
        Assert.Equal((nint)data, root);

        batch.Write(in data[1], 8L);
        Assert.Equal(1, batch.Add(in counter, 1));
        Assert.Equal(8, data[1]);

        batch.Write(in data[2], 9L);
        Assert.Equal(1, batch.CompareExchange(in counter, 5, 1));
        Assert.Equal(9, data[2]);
        Assert.Equal(5, counter);
    }

    [Fact]
    public void Disposing_the_pool_drops_what_an_open_batch_holds_and_ends_it()
    {
        WriteRarePool pool = NewPool();
        nint p = pool.Allocate(64);
        pool.Protect();
        WriteRareBatch batch = pool.BeginWrites();
        batch.Write(p, [1, 2, 3]);
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => batch.Flush());
        batch.Dispose(); // a no-op
    }

    [Fact]
    public void A_hardened_pool_holds_its_batch_bytes_in_memory_left_out_of_core_dumps()
    {
        using WriteRarePool pool = NewPool(excludeFromCoreDumps: true);
        nint p = pool.Allocate(64);
        pool.Protect();
        using WriteRareBatch batch = pool.BeginWrites();
        batch.Write(p, BitConverter.GetBytes(0x5EC12E7L));

        // The scratch mapping that holds the batch's bytes carries the pool's MADV_DONTDUMP.
        nint held = batch.BufferAddress;
        SmapsEntry scratch = SmapsEntry.Read().Single(e => e.Start <= held && held < e.End);
        Assert.Contains("dd", scratch.VmFlags);
        Assert.Equal(0x5EC12E7L, *(long*)held);
        batch.Flush();
        Assert.Equal(0x5EC12E7L, *(long*)p);
        Assert.Equal(0, *(long*)held); // wiped after the flush
    }
}
