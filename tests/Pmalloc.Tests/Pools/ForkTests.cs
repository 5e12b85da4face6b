namespace Pmalloc.Tests;

/// <summary>
/// A pool's chunks are <c>MAP_SHARED</c> mappings of its memfd, and a shared mapping is inherited by a child forked
/// without exec: made while the pool was writable, the child's copy would stay writable after this process protects the
/// pool, with the same pages behind it (a probe showed such a child's store landing in the parent's protected pool).
/// Every chunk is therefore left out of forked children (<c>MADV_DONTFORK</c>): the kernel reports it as <c>dc</c>
/// ("do not copy") in the chunk's <c>VmFlags</c>. (.NET itself cannot be tested forking: the runtime does not survive a
/// fork in its children or, afterwards, reliably in the parent.)
/// </summary>
public sealed unsafe class ForkTests
{
    [Fact]
    public void Every_chunk_is_left_out_of_forked_children_before_and_after_Protect()
    {
        Platform.RequireLinux("fork is POSIX; a Windows child inherits no mapping");
        using WriteOncePool pool = new(new PoolOptions { Name = "nofork" });
        *(long*)pool.Allocate(64) = 1;
        *(long*)pool.Allocate(1 << 20) = 2; // a chunk of its own
        Assert.True(pool.Chunks.Count > 1);
        AssertLeftOutOfForks(pool);

        pool.Protect();
        AssertLeftOutOfForks(pool);
    }

    [Fact]
    public void A_reused_spare_chunk_is_still_left_out_of_forked_children()
    {
        Platform.RequireLinux("fork is POSIX");
        using WriteOncePool pool = new(new PoolOptions { Name = "nofork-spare" });
        _ = pool.Allocate(16);
        pool.Free(pool.Allocate(1 << 16)); // the chunk becomes the spare
        *(long*)pool.Allocate(1 << 16) = 3; // and is taken again
        AssertLeftOutOfForks(pool);
    }

    [Fact]
    public void A_write_rare_pool_and_a_secret_pool_are_left_out_of_forked_children()
    {
        Platform.RequireLinux("fork is POSIX");
        using WriteRarePool rare = new(new PoolOptions { Name = "nofork-rare" });
        nint p = rare.Allocate(8);
        rare.Protect();
        rare.Write(in *(long*)p, 4L);
        AssertLeftOutOfForks(rare);

        using WriteOncePool secret = new(KernelRequirements.RequireFor(new PoolOptions { Name = "nofork-secret", SecretMemory = true }));
        *(long*)secret.Allocate(64) = 5;
        secret.Protect();
        AssertLeftOutOfForks(secret);
    }

    private static void AssertLeftOutOfForks(ProtectablePool pool)
    {
        foreach (Chunk chunk in pool.Chunks)
        {
            SmapsEntry entry = SmapsEntry.OfChunk(chunk.Mapping).Mapping;
            Assert.True(entry.VmFlags.Contains("dc"), $"pool '{pool.Name}': the chunk at 0x{chunk.Start:x} has VmFlags [{string.Join(' ', entry.VmFlags)}], without dc (MADV_DONTFORK)");
        }
    }
}
