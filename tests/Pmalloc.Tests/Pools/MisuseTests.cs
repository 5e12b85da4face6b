namespace Pmalloc.Tests;

/// <summary>Every misuse gets a clear exception naming the pool and the address, and changes nothing.</summary>
public sealed class MisuseTests
{
    /// <summary>Runs <paramref name="misuse"/>, checks the exception and its message, and that the pool did not change.</summary>
    private static TException AssertRefusedWithoutChange<TException>(ProtectablePool pool, Action misuse, nint address = 0)
        where TException : Exception
    {
        PoolStatistics before = pool.Statistics;
        TException e = Assert.Throws<TException>(misuse);
        Assert.Contains($"'{pool.Name}'", e.Message, StringComparison.Ordinal);
        if (address != 0)
        {
            Assert.Contains($"0x{address:x}", e.Message, StringComparison.Ordinal);
        }

        Assert.Equal(before, pool.Statistics);
        if (pool.State != PoolState.Destroyed)
        {
            pool.ValidateInvariants();
        }

        return e;
    }

    [Fact]
    public void Freeing_a_foreign_pointer_is_refused()
    {
        using WriteOncePool pool = TestPools.NewPool();
        using WriteOncePool other = TestPools.NewPool();
        pool.Allocate(32);
        nint foreign = other.Allocate(32);
        AssertRefusedWithoutChange<ArgumentException>(pool, () => pool.Free(foreign), foreign);
        AssertRefusedWithoutChange<ArgumentException>(pool, () => pool.Free(0x1234), 0x1234);
        Assert.True(other.Contains(foreign));
    }

    [Fact]
    public void Freeing_an_interior_pointer_is_refused_and_names_the_allocation()
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint p = pool.Allocate(64);
        ArgumentException e = AssertRefusedWithoutChange<ArgumentException>(pool, () => pool.Free(p + 16), p + 16);
        Assert.Contains($"0x{p:x}", e.Message, StringComparison.Ordinal);
        AssertRefusedWithoutChange<ArgumentException>(pool, () => pool.Free(p + 1), p + 1);
        Assert.True(pool.Contains(p));
    }

    [Fact]
    public void A_double_free_is_refused()
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint p = pool.Allocate(64);
        pool.Allocate(64);
        pool.Free(p);
        AssertRefusedWithoutChange<ArgumentException>(pool, () => pool.Free(p), p);
    }

    [Fact]
    public void Freeing_never_allocated_pool_memory_is_refused()
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint p = pool.Allocate(64);
        AssertRefusedWithoutChange<ArgumentException>(pool, () => pool.Free(p + 4096), p + 4096);
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData((1UL << 32) + 1)]
    [InlineData(ulong.MaxValue)]
    public void A_bad_size_is_refused(ulong size)
    {
        using WriteOncePool pool = TestPools.NewPool();
        pool.Allocate(8);
        AssertRefusedWithoutChange<ArgumentOutOfRangeException>(pool, () => pool.Allocate((nuint)size));
        AssertRefusedWithoutChange<ArgumentOutOfRangeException>(pool, () => pool.AllocateZeroed((nuint)size));
    }

    [Fact]
    public void A_count_times_size_overflow_is_refused()
    {
        using WriteOncePool pool = TestPools.NewPool();
        AssertRefusedWithoutChange<ArgumentOutOfRangeException>(pool, () => pool.AllocateArray<decimal>(int.MaxValue));
    }

    /// <summary>Not powers of two, too small, and twice the page size (the largest valid alignment is one page).</summary>
    public static TheoryData<int> BadAlignments => [0, 4, 12, 48, 2 * Environment.SystemPageSize];

    [Theory]
    [MemberData(nameof(BadAlignments))]
    public void An_alignment_that_is_not_a_power_of_two_in_range_is_refused(int alignment)
    {
        ArgumentException e = Assert.Throws<ArgumentException>(() => new WriteOncePool(new PoolOptions { Alignment = alignment }));
        Assert.Contains("Alignment", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("bad\nname")]
    public void A_bad_name_is_refused(string name)
    {
        ArgumentException e = Assert.Throws<ArgumentException>(() => new WriteOncePool(new PoolOptions { Name = name }));
        Assert.Contains("Name", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-4096)]
    [InlineData((1 << 30) + 1)]
    [InlineData(int.MaxValue)]
    public void A_bad_chunk_size_is_refused(int chunkSize)
    {
        ArgumentException e = Assert.Throws<ArgumentException>(() => new WriteOncePool(new PoolOptions { ChunkSize = chunkSize }));
        Assert.Contains("ChunkSize", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Allocate_and_free_after_Protect_are_refused()
    {
        using WriteOncePool pool = TestPools.NewPool();
        nint p = pool.Allocate(16);
        pool.Protect();
        AssertRefusedWithoutChange<InvalidOperationException>(pool, () => pool.Allocate(16));
        AssertRefusedWithoutChange<InvalidOperationException>(pool, () => pool.Allocate<long>());
        AssertRefusedWithoutChange<InvalidOperationException>(pool, () => pool.AllocateArray<long>(3));
        AssertRefusedWithoutChange<InvalidOperationException>(pool, () => pool.AllocateUtf8("x"));
        AssertRefusedWithoutChange<InvalidOperationException>(pool, () => pool.Free(p), p);
        AssertRefusedWithoutChange<InvalidOperationException>(pool, () => pool.Checkpoint());
        Assert.True(pool.Contains(p));
    }

    [Fact]
    public void Misuse_of_a_checkpoint_is_refused()
    {
        using WriteOncePool pool = TestPools.NewPool();
        using WriteOncePool other = TestPools.NewPool();
        PoolCheckpoint foreign = other.Checkpoint();
        pool.Allocate(16);
        AssertRefusedWithoutChange<ArgumentException>(pool, () => pool.RollbackTo(foreign));
        AssertRefusedWithoutChange<ArgumentException>(pool, () => pool.RollbackTo(default));

        PoolCheckpoint early = pool.Checkpoint();
        pool.Allocate(16);
        PoolCheckpoint late = pool.Checkpoint();
        pool.Allocate(16);
        pool.RollbackTo(early);
        pool.Allocate(16);
        pool.Allocate(16);
        AssertRefusedWithoutChange<ArgumentException>(pool, () => pool.RollbackTo(late));
    }
}
