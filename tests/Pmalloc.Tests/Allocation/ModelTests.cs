using CsCheck;

namespace Pmalloc.Tests;

/// <summary>
/// Model-based: long random sequences of allocate, free, checkpoint and rollback against a plain list of
/// live blocks. After every sequence: no two live allocations overlap, every address is aligned, every
/// fresh allocation was zeroed, and every byte written reads back unchanged after Protect.
/// </summary>
public sealed class ModelTests
{
    private sealed record Block(int Id, nint Address, nuint Size);

    private enum Op { Allocate, Free, Mark, Rollback }

    private static readonly Gen<(Op Op, int Size, int Pick)> GenStep =
        Gen.Select(
            Gen.Frequency((10, Gen.Const(Op.Allocate)), (4, Gen.Const(Op.Free)), (1, Gen.Const(Op.Mark)), (1, Gen.Const(Op.Rollback))),
            Gen.Frequency((6, Gen.Int[1, 64]), (3, Gen.Int[65, 5000]), (1, Gen.Int[5001, 200_000])),
            Gen.Int[0, int.MaxValue]);

    private static readonly Gen<int> GenAlignment = Gen.OneOf(Gen.Const(8), Gen.Const(16), Gen.Const(64), Gen.Const(512));

    [Fact]
    public void Random_sequences_agree_with_the_model()
    {
        Gen.Select(GenAlignment, GenStep.Array[1, 400]).Sample((alignment, steps) => Run(alignment, steps), iter: 150);
    }

    private static void Run(int alignment, (Op Op, int Size, int Pick)[] steps)
    {
        using WriteOncePool pool = new(new PoolOptions { Name = "model", Alignment = alignment, ChunkSize = Environment.SystemPageSize });
        List<Block> live = [];
        List<(PoolCheckpoint Mark, int LastId)> marks = [];
        int nextId = 0;
        foreach ((Op op, int size, int pick) in steps)
        {
            switch (op)
            {
                case Op.Allocate:
                    nint p = pool.Allocate((nuint)size);
                    Assert.Equal(0, p % alignment);
                    Assert.True(TestPools.IsZero(p, (nuint)size), "a fresh allocation was not zeroed");
                    TestPools.Fill(p, (nuint)size, nextId);
                    live.Add(new Block(nextId++, p, (nuint)size));
                    break;
                case Op.Free when live.Count > 0:
                    Block victim = live[pick % live.Count];
                    pool.Free(victim.Address);
                    live.Remove(victim);
                    break;
                case Op.Mark:
                    marks.Add((pool.Checkpoint(), nextId - 1));
                    break;
                case Op.Rollback when marks.Count > 0:
                    int index = pick % marks.Count;
                    (PoolCheckpoint mark, int lastId) = marks[index];
                    pool.RollbackTo(mark);
                    live.RemoveAll(b => b.Id > lastId);
                    marks.RemoveRange(index + 1, marks.Count - index - 1);
                    break;
            }
        }

        pool.ValidateInvariants();
        Assert.Equal(live.Count, pool.Statistics.LiveAllocations);
        Assert.Equal(live.Sum(b => (long)b.Size), pool.Statistics.RequestedBytes);

        Block[] sorted = [.. live.OrderBy(b => b.Address)];
        for (int i = 1; i < sorted.Length; i++)
        {
            Assert.True(sorted[i - 1].Address + (nint)sorted[i - 1].Size <= sorted[i].Address, "two live allocations overlap");
        }

        pool.Protect();
        foreach (Block b in live)
        {
            Assert.True(TestPools.HasPattern(b.Address, b.Size, b.Id), $"block {b.Id} changed");
            Assert.True(pool.Contains(b.Address) && pool.Contains(b.Address + (nint)b.Size - 1));
        }
    }
}
