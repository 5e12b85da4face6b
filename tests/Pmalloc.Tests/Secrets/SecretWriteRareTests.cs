using System.Runtime.CompilerServices;

namespace Pmalloc.Tests;

/// <summary>The write-rare paths on <c>memfd_secret</c> backing, which takes no <c>pwrite</c>.</summary>
public sealed unsafe class SecretWriteRareTests
{
    [Fact]
    public void A_protected_secret_write_rare_pool_can_still_be_written()
    {
        using WriteRarePool pool = new(KernelRequirements.RequireFor(new PoolOptions { Name = "secret-wr", SecretMemory = true, Seal = SealMode.Required }));
        nint p = pool.Allocate(64);
        pool.Protect();
        pool.Write(p, BitConverter.GetBytes(0x5EC12E7L));
        pool.Fill(p + 8, 0x42, 56);
        Assert.Equal(0x5EC12E7L, *(long*)p);
        Assert.Equal(0x42, *(byte*)(p + 63));
        pool.MakeReadOnly();
        Assert.Equal(PoolHardening.MappingsSealed | PoolHardening.BackingSealed, pool.Statistics.Hardening & (PoolHardening.MappingsSealed | PoolHardening.BackingSealed));
    }

    [Fact]
    public void A_secret_object_cache_creates_and_frees()
    {
        using ObjectCache<long> cache = new(KernelRequirements.RequireFor(new PoolOptions { Name = "secret-cache", SecretMemory = true }));
        ref readonly long item = ref cache.Create(0x5EC12E7L);
        Assert.Equal(0x5EC12E7L, item);
        nint address = (nint)Unsafe.AsPointer(ref Unsafe.AsRef(in item));
        Assert.Throws<InvalidOperationException>(() => ProtectedMemory.CheckWrite(address, sizeof(long)));
        cache.Free(in item);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Every_write_rare_call_on_secret_memory_goes_through_the_writer_and_lands()
    {
        using WriteRarePool pool = new(KernelRequirements.RequireFor(new PoolOptions { Name = TestPools.UniqueName(), SecretMemory = true }));
        long* words = (long*)pool.Allocate(64);
        nint big = pool.Allocate(100_000); // a write longer than one writer message (64 KiB)
        pool.Protect();
        byte[] bytes = [.. Enumerable.Range(0, 100_000).Select(i => unchecked((byte)(i * 13)))];
        pool.Write(big, bytes);
        Assert.Equal(bytes, new ReadOnlySpan<byte>((void*)big, bytes.Length).ToArray());
        pool.Publish(in *(nint*)words, 0x1234);
        Assert.Equal(8, pool.Add(in words[1], 8));
        Assert.Equal(8, pool.CompareExchange(in words[1], 9, 8));
        using (WriteRareBatch batch = pool.BeginWrites())
        {
            batch.Write(in words[2], 2L);
            batch.Write(in words[3], 3L);
            batch.Fill((nint)(words + 4), 0x44, 8);
        }

        Assert.Equal([0x1234L, 9, 2, 3, 0x4444444444444444], new ReadOnlySpan<long>(words, 5).ToArray());
        Assert.True(pool.WriterMappings > 0);
        pool.MakeReadOnly();
        Assert.Equal(0, pool.WriterMappings);
        Assert.Throws<InvalidOperationException>(() => pool.Publish(in *(nint*)words, 1));
    }
}
