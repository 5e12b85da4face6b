namespace Pmalloc.Tests;

/// <summary>
/// <see cref="PoolOptions.Seal"/> on an <see cref="ObjectCache{T}"/>: its chunks are read-only from birth, so they are
/// sealed from birth (mseal as each chunk is mapped), and <c>mprotect</c>, <c>munmap</c> and <c>mremap</c> are refused
/// on them; objects are still created and freed through the backing, which the cache keeps writable (its size sealed).
/// </summary>
public sealed unsafe class ObjectCacheSealingTests
{
    private const long Secret = 0x5EC12E7;

    private static void AssertRefused(int result, string call)
    {
        Assert.True(result == -1, $"{call} went through on a sealed cache chunk");
        Assert.True(Interop.LastErrno == Interop.Errno.EPERM, $"{call} failed with {Interop.ErrnoName(Interop.LastErrno)}, expected EPERM");
    }

    private static ObjectCache<long> SealedCache(SealMode mode = SealMode.Required) =>
        new(KernelRequirements.RequireFor(new PoolOptions { Name = TestPools.UniqueName(), Seal = mode, ChunkSize = Environment.SystemPageSize }));

    [Fact]
    public void A_cache_with_Seal_Required_is_sealed_from_birth_and_mprotect_cannot_make_it_writable()
    {
        using ObjectCache<long> cache = SealedCache();
        ref readonly long secret = ref cache.Create(Secret);

        // Enough objects for several chunks: every one is sealed as it is mapped.
        int perPage = Environment.SystemPageSize / 16;
        for (int i = 0; i < 3 * perPage; i++)
        {
            cache.Create(i);
        }

        Assert.True(cache.Statistics.Chunks > 1);
        Assert.True(cache.Statistics.Sealed);
        Assert.Equal(PoolHardening.MappingsSealed, cache.Statistics.Hardening & (PoolHardening.MappingsSealed | PoolHardening.BackingSealed));
        foreach (Chunk chunk in cache.Pool.Chunks)
        {
            ChunkMapping m = chunk.Mapping;
            Assert.Contains("sl", SmapsEntry.OfChunk(m).Mapping.VmFlags);
            AssertRefused(Interop.mprotect(m.Start, m.Length, Interop.Prot.Read | Interop.Prot.Write), "mprotect");
            AssertRefused(Interop.munmap(m.Start, m.Length), "munmap");
            AssertRefused((int)RawLibc.mremap(m.Start, m.Length, m.Length, RawLibc.MremapMayMove, 0), "mremap");
            Assert.Equal(RawLibc.SizeSeals, RawLibc.fcntl(m.RawFd(), Interop.FcntlCommand.GetSeals, 0));
            Assert.Equal("r--s", SmapsEntry.OfChunk(m).Mapping.Permissions);
        }

        Assert.Equal(Secret, secret);
        cache.ValidateInvariants();
    }

    [Fact]
    public void A_sealed_cache_still_creates_and_frees_and_keeps_emptied_chunks_mapped()
    {
        using ObjectCache<long> cache = SealedCache();
        int perPage = Environment.SystemPageSize / 16;
        List<nint> objects = [];
        for (int i = 0; i < 2 * perPage; i++)
        {
            objects.Add((nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.CompilerServices.Unsafe.AsRef(in cache.Create(i + 1))));
        }

        int chunks = cache.Statistics.Chunks;
        Assert.True(chunks > 1);

        // Emptying a sealed chunk cannot give it back to the OS (munmap is refused): it stays, for the next objects.
        foreach (nint p in objects[perPage..])
        {
            cache.Free(in *(long*)p);
        }

        Assert.Equal(chunks, cache.Statistics.Chunks);
        Assert.All(objects[perPage..], p => Assert.Equal(0, *(long*)p));
        Assert.Equal(perPage, cache.Count);
        ref readonly long again = ref cache.Create(0x600D);
        Assert.Equal(0x600D, again);
        cache.ValidateInvariants();
    }

    [Fact]
    public void IfSupported_seals_a_cache_exactly_where_the_kernel_has_mseal()
    {
        using ObjectCache<long> cache = SealedCache(SealMode.IfSupported);
        cache.Create(Secret);
        Assert.Equal(ProtectedMemory.Support.Mseal, cache.Statistics.Sealed);
    }

    [Fact]
    public void Disposing_a_sealed_cache_wipes_it_through_the_backing_closes_it_and_forgets_it()
    {
        ObjectCache<long> cache = SealedCache();
        ref readonly long secret = ref cache.Create(Secret);
        nint p = (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.CompilerServices.Unsafe.AsRef(in secret));
        ChunkMapping m = cache.Pool.Chunks[0].Mapping;
        cache.Dispose();

        // Still mapped, read-only and sealed (munmap is refused), but wiped, and its memfd closed.
        SmapsEntry mapping = SmapsEntry.Read().Single(e => e.Start <= m.Start && m.Start < e.End);
        Assert.Equal("r--s", mapping.Permissions);
        Assert.Contains("sl", mapping.VmFlags);
        Assert.Equal(0, *(long*)p);
        Assert.Equal(-1, m.RawFd());
        Assert.Throws<ObjectDisposedException>(() => ProtectedMemory.CheckWrite(p, 8));
    }
}
