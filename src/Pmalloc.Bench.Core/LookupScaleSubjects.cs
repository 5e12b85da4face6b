namespace Pmalloc.Bench;

/// <summary>
/// Does a bounds check cost the same whatever the allocation's size, and whatever the number of pools? Two pairs of
/// subjects, each measured side by side: <see cref="CheckEndOfLarge"/> against <see cref="CheckEndOfSmall"/> (8 bytes at
/// the end of a 16 MiB allocation, and of a 16 B one), and <see cref="CheckAcrossPools"/> against
/// <see cref="CheckInOnePool"/> (random checks over 1,000 pools of one allocation each, and over one pool holding the
/// same 1,000 allocations).
/// </summary>
public sealed class LookupScaleSubjects : IDisposable
{
    public const int Pools = 1_000;
    public const long LargeSize = 16L << 20;
    public const int SmallSize = 16;
    private const int AllocationSize = 64;

    private readonly WriteOncePool _sizes;
    private readonly nint _largeEnd;
    private readonly nint _smallEnd;
    private readonly List<WriteOncePool> _many = [];
    private readonly WriteOncePool _one;
    private readonly nint[] _acrossPools;
    private readonly nint[] _inOnePool;

    public LookupScaleSubjects()
    {
        _sizes = new WriteOncePool(new PoolOptions { Name = "bench-lookup-sizes" });
        nint small = _sizes.Allocate(SmallSize);
        nint large = _sizes.Allocate((nuint)LargeSize);
        _sizes.Protect();
        _smallEnd = small + SmallSize - 8;
        _largeEnd = large + (nint)LargeSize - 8;

        nint[] spread = new nint[Pools];
        nint[] packed = new nint[Pools];
        _one = new WriteOncePool(new PoolOptions { Name = "bench-lookup-one" });
        for (int i = 0; i < Pools; i++)
        {
            WriteOncePool pool = new(new PoolOptions { Name = "bench-lookup-many", ChunkSize = Environment.SystemPageSize });
            spread[i] = pool.Allocate(AllocationSize);
            pool.Protect();
            _many.Add(pool);
            packed[i] = _one.Allocate(AllocationSize);
        }

        _one.Protect();
        Random random = new(5);
        _acrossPools = new nint[1 << 16];
        _inOnePool = new nint[1 << 16];
        for (int i = 0; i < _acrossPools.Length; i++)
        {
            int k = random.Next(Pools);
            _acrossPools[i] = spread[k];
            _inOnePool[i] = packed[k];
        }
    }

    /// <summary>Checks per call of the loops below.</summary>
    public int Count => _acrossPools.Length;

    /// <summary>CheckRead of the last 8 bytes of a 16 MiB allocation, <see cref="Count"/> times.</summary>
    public long CheckEndOfLarge() => Repeat(_largeEnd);

    /// <summary>CheckRead of the last 8 bytes of a 16 B allocation, <see cref="Count"/> times.</summary>
    public long CheckEndOfSmall() => Repeat(_smallEnd);

    /// <summary>CheckRead of 8 bytes of random allocations, one per pool, over 1,000 pools.</summary>
    public long CheckAcrossPools() => Each(_acrossPools);

    /// <summary>CheckRead of 8 bytes of random allocations of one pool holding 1,000.</summary>
    public long CheckInOnePool() => Each(_inOnePool);

    public void Dispose()
    {
        _sizes.Dispose();
        _one.Dispose();
        _many.ForEach(p => p.Dispose());
    }

    private long Repeat(nint address)
    {
        long sum = 0;
        for (int i = 0; i < Count; i++)
        {
            sum += (long)ProtectedMemory.CheckRead(address, 8).Size;
        }

        return sum;
    }

    private static long Each(nint[] targets)
    {
        long sum = 0;
        foreach (nint p in targets)
        {
            sum += (long)ProtectedMemory.CheckRead(p, 8).Size;
        }

        return sum;
    }
}
