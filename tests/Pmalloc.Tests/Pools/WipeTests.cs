namespace Pmalloc.Tests;

/// <summary>
/// Wiping never commits a page that was never touched (issue 11, item 3): a free or a destroy gives whole pages back to the
/// kernel (a punched hole, which reads as zeros) instead of writing zeros over them. Checked by the memory the pool's
/// memfd holds afterwards (fstat's st_blocks, through a descriptor kept open past the pool's own), and by RssShmem.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed unsafe class WipeTests
{
    private const long Big = 256L << 20;
    private static readonly int Page = Environment.SystemPageSize;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Freeing_a_large_allocation_with_one_byte_written_commits_nothing(bool sharesItsChunk)
    {
        Platform.RequireLinux("holes punched in a memfd, measured in /proc (Windows sections take none: a wipe there is stores of zeros)");
        // Sharing its chunk with other live allocations, the allocation is wiped in place (holes punched); alone in its
        // chunk, the chunk is unmapped and its range punched.
        using WriteOncePool pool = new(new PoolOptions { Name = TestPools.UniqueName(), ChunkSize = sharesItsChunk ? 512 << 20 : Page });
        nint first = pool.Allocate(16);
        nint big = pool.Allocate((nuint)Big);
        nint last = pool.Allocate(16);
        Assert.Equal(sharesItsChunk, pool.Chunks.Single(c => c.Contains(big)).Contains(last));
        *(byte*)(big + (nint)(Big / 2)) = 1;
        *(byte*)first = *(byte*)last = 7;
        using Microsoft.Win32.SafeHandles.SafeFileHandle memfd = File.OpenHandle(TestPools.MemfdsOf(pool.Name)[0], FileMode.Open, FileAccess.Read);
        long shmem = TestPools.ResidentShmem();

        pool.Free(big);

        Assert.True(TestPools.ResidentShmem() - shmem < 16L << 20, $"RssShmem grew by {(TestPools.ResidentShmem() - shmem) >> 20} MiB on Free");
        Assert.True(RawLibc.AllocatedBytes((int)memfd.DangerousGetHandle()) < 16L << 20, "the memfd holds the freed allocation's pages");
        Assert.True(*(byte*)first == 7 && *(byte*)last == 7, "a neighbour of the freed allocation was wiped");

        // Reusable at once, and zeroed.
        nint again = pool.Allocate((nuint)Big);
        Assert.Equal(0, *(byte*)(again + (nint)(Big / 2)));
        pool.ValidateInvariants();
    }

    [Fact]
    public void A_free_spanning_pages_zeroes_its_partial_pages_and_punches_the_whole_ones()
    {
        using WriteOncePool pool = TestPools.NewPool(chunkSize: 64 * Page);
        nint before = pool.Allocate((nuint)(Page / 2));
        nint spanning = pool.Allocate((nuint)(5 * Page)); // starts mid-page: partial pages at both ends, four whole ones inside
        nint after = pool.Allocate(64);
        TestPools.Fill(before, (nuint)(Page / 2), 1);
        TestPools.Fill(spanning, (nuint)(5 * Page), 2);
        TestPools.Fill(after, 64, 3);

        pool.Free(spanning);

        Assert.True(TestPools.HasPattern(before, (nuint)(Page / 2), 1) && TestPools.HasPattern(after, 64, 3), "a neighbour was wiped");
        nint again = pool.Allocate((nuint)(5 * Page));
        Assert.Equal(spanning, again);
        Assert.True(TestPools.IsZero(again, (nuint)(5 * Page)), "a freed byte was not wiped");
        pool.ValidateInvariants();
    }

    [Fact]
    public void Disposing_a_writable_pool_commits_nothing_and_wipes_it()
    {
        Platform.RequireLinux("holes punched in a memfd, measured in /proc (Windows sections take none: a wipe there is stores of zeros)");
        WriteOncePool pool = TestPools.NewPool();
        nint big = pool.Allocate((nuint)Big);
        *(long*)(big + (nint)(Big / 2)) = 0x5EC12E7;
        using Microsoft.Win32.SafeHandles.SafeFileHandle kept = File.OpenHandle(TestPools.MemfdsOf(pool.Name)[0], FileMode.Open, FileAccess.Read);
        long offset = pool.Chunks.Single(c => c.Contains(big)).Mapping.FileOffsetOf(big + (nint)(Big / 2));

        pool.Dispose();

        Assert.True(RawLibc.AllocatedBytes((int)kept.DangerousGetHandle()) < 16L << 20, "destroy committed the pool's untouched pages");
        byte[] read = new byte[8];
        Assert.Equal(8, RandomAccess.Read(kept, read, offset));
        Assert.Equal(0, BitConverter.ToInt64(read));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Disposing_a_protected_pool_commits_nothing_and_wipes_it_without_its_descriptor(bool locked)
    {
        // The pool closed its memfd at Protect; it wipes through the mapping (MADV_REMOVE). The file is reopened through
        // its mapping here, and kept past Dispose, to look at what it holds afterwards.
        WriteOncePool pool = new(new PoolOptions { Name = TestPools.UniqueName(), LockInMemory = locked });
        nint big = pool.Allocate((nuint)Big);
        *(long*)(big + (nint)(Big / 2)) = 0x5EC12E7;
        pool.Protect();
        ChunkMapping m = pool.Chunks.Single(c => c.Contains(big)).Mapping;
        Assert.Equal(-1, m.RawFd());
        using Microsoft.Win32.SafeHandles.SafeFileHandle kept = File.OpenHandle(m.MapFilesPath(), FileMode.Open, FileAccess.Read);
        long offset = m.FileOffsetOf(big + (nint)(Big / 2));

        pool.Dispose();

        Assert.True(RawLibc.AllocatedBytes((int)kept.DangerousGetHandle()) < 16L << 20, "destroy committed the pool's untouched pages");
        byte[] read = new byte[8];
        Assert.Equal(8, RandomAccess.Read(kept, read, offset));
        Assert.Equal(0, BitConverter.ToInt64(read));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Disposing_a_protected_write_rare_pool_commits_nothing_and_wipes_it(bool madeReadOnly)
    {
        Platform.RequireLinux("holes punched in a memfd, measured in /proc (Windows: WindowsBackendTests checks the wipe)");
        // After MakeReadOnly the pool holds no descriptor: the wipe goes through the read-only mapping (MADV_REMOVE), and
        // no writable mapping of the pool appears for it (a write-rare pool's never is made writable).
        WriteRarePool pool = new(new PoolOptions { Name = TestPools.UniqueName() });
        nint big = pool.Allocate((nuint)Big);
        pool.Protect();
        pool.Write(big + (nint)(Big / 2), BitConverter.GetBytes(0x5EC12E7L));
        if (madeReadOnly)
        {
            pool.MakeReadOnly();
            Assert.Empty(TestPools.MemfdsOf(pool.Name));
        }

        ChunkMapping m = pool.Chunks.Single(c => c.Contains(big)).Mapping;
        using Microsoft.Win32.SafeHandles.SafeFileHandle kept = File.OpenHandle(m.MapFilesPath(), FileMode.Open, FileAccess.Read);
        long offset = m.FileOffsetOf(big + (nint)(Big / 2));

        pool.Dispose();

        Assert.True(RawLibc.AllocatedBytes((int)kept.DangerousGetHandle()) < 16L << 20, "destroy committed the pool's untouched pages");
        byte[] read = new byte[8];
        Assert.Equal(8, RandomAccess.Read(kept, read, offset));
        Assert.Equal(0, BitConverter.ToInt64(read));
    }
}
