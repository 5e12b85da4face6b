namespace Pmalloc.Tests;

/// <summary>
/// <see cref="ProtectablePool.Read"/> checks its destination as <see cref="ProtectedMemory.CheckWrite"/> does: protected
/// memory, or pool memory outside a live allocation, is refused with an exception, and nothing is written.
/// </summary>
public sealed unsafe class ReadDestinationTests
{
    [Fact]
    public void A_destination_in_protected_memory_is_refused_instead_of_stopping_the_process()
    {
        ChildResult result = Child.Run("read-into-protected-destination");

        Assert.True(result.ExitCode == 0 && result.StandardOutput.Contains(ChildScenarios.SurvivedMarker, StringComparison.Ordinal), result.ToString());
        Assert.Contains("protected pool: refused: InvalidOperationException: Pool 'child': refusing to write 8 bytes at 0x", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("object cache: refused: InvalidOperationException: Pool 'child-cache-dest': refusing to write 8 bytes at 0x", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("protected pool: destination intact: True", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("object cache: destination intact: True", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("source statistics unchanged: True", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void A_destination_in_a_writable_pool_outside_a_live_allocation_is_refused_and_nothing_is_written()
    {
        using WriteOncePool source = TestPools.NewPool(), other = TestPools.NewPool();
        nint from = source.Allocate(32);
        TestPools.Fill(from, 32, 5);
        nint freed = other.Allocate(32);
        nint next = other.Allocate(32);
        other.Free(freed);
        PoolStatistics before = source.Statistics, otherBefore = other.Statistics;

        ArgumentException e = Assert.Throws<ArgumentException>(() => source.Read(from, new Span<byte>((void*)freed, 32)));
        Assert.Contains($"'{other.Name}'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"0x{freed:x}", e.Message, StringComparison.Ordinal);
        Assert.True(TestPools.IsZero(freed, 32));

        // Crossing the end of a live allocation is refused too.
        Assert.Throws<ArgumentOutOfRangeException>(() => source.Read(from, new Span<byte>((void*)next, 33)));
        Assert.Equal((before, otherBefore), (source.Statistics, other.Statistics));
    }

    [Fact]
    public void A_destination_inside_a_live_allocation_of_a_writable_pool_even_the_same_one_is_filled()
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint from = pool.Allocate(32);
        nint to = pool.Allocate(32);
        TestPools.Fill(from, 32, 9);

        // The destination's check takes the destination pool's lock: here the pool's own, which must not deadlock.
        pool.Read(from, new Span<byte>((void*)to, 32));
        Assert.True(TestPools.HasPattern(to, 32, 9));

        // Managed and stack memory touch no pool.
        byte[] managed = new byte[32];
        pool.Read(from, managed);
        Assert.True(managed.AsSpan().SequenceEqual(new ReadOnlySpan<byte>((void*)from, 32)));
    }
}
