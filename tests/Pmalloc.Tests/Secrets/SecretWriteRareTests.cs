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
}
