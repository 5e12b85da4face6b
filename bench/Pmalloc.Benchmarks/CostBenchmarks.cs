using BenchmarkDotNet.Attributes;
using Pmalloc.Bench;

namespace Pmalloc.Benchmarks;

/// <summary>
/// What a pool costs, next to its rivals (the same operations as <c>pmalloc bench --costs</c>, from
/// <see cref="CostSubjects"/>): a small pool's lifecycle against libsodium's, one 64 KiB chunk mapped and unmapped against
/// the same chunk made the way the library made it before (the system calls replayed), and the system calls of the new
/// scheme replayed alone.
/// </summary>
[GroupBenchmarksBy(BenchmarkDotNet.Configs.BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class CostBenchmarks
{
    private CostSubjects? _s;

    [GlobalSetup]
    public void Setup()
    {
        _ = CostSubjects.SodiumMissing; // sodium_init, before any sodium_malloc
        _s = new CostSubjects();
    }

    [GlobalCleanup]
    public void Cleanup() => _s?.Dispose();

    [Benchmark(Description = "pool: create, 10 x Allocate(64), Protect, Dispose")]
    [BenchmarkCategory("small-pool lifecycle")]
    public void PoolLifecycle() => CostSubjects.PoolLifecycle();

    [Benchmark(Baseline = true, Description = "sodium_malloc(640) + mprotect_readonly + free")]
    [BenchmarkCategory("small-pool lifecycle")]
    public void SodiumLifecycle() => CostSubjects.SodiumLifecycle();

    [Benchmark(Description = "aligned_alloc page + mprotect + free")]
    [BenchmarkCategory("small-pool lifecycle")]
    public void PageLifecycle() => CostSubjects.PageLifecycle();

    [Benchmark(Description = "the pool's lifecycle system calls alone (replayed)")]
    [BenchmarkCategory("small-pool lifecycle")]
    public void ReplayedLifecycle() => CostSubjects.ReplayPoolLifecycle();

    [Benchmark(Description = "pool: Allocate(64 KiB) + Free (a chunk of its own: the spare, reused)")]
    [BenchmarkCategory("64 KiB chunk map+unmap")]
    public void PoolChunk() => _s!.PoolChunkCycle();

    [Benchmark(Baseline = true, Description = "memfd per chunk + PROT_NONE reservation (replayed)")]
    [BenchmarkCategory("64 KiB chunk map+unmap")]
    public void OldChunk() => CostSubjects.ReplayMemfdPerChunk();

    [Benchmark(Description = "pool memfd + MADV_GUARD_INSTALL (replayed)")]
    [BenchmarkCategory("64 KiB chunk map+unmap")]
    public void NewChunk() => _s!.ReplayPoolMemfd();
}

/// <summary>
/// <c>Allocate</c> in a pool whose chunk is mapped and whose bitmaps are warm, against <c>NativeMemory.Alloc</c> on a warm
/// heap: 100,000 allocations per invocation, the pool made (and the heap warmed) outside the timing.
/// </summary>
[InvocationCount(1)]
public unsafe class WarmAllocationBenchmarks
{
    private readonly nint[] _objects = new nint[CostSubjects.WarmAllocations];
    private WriteOncePool? _pool;

    [Params(16, 64)]
    public int Size { get; set; }

    [IterationSetup(Target = nameof(Pool))]
    public void SetupPool() => _pool = CostSubjects.WarmPool(Size);

    [IterationCleanup(Target = nameof(Pool))]
    public void CleanupPool() => _pool?.Dispose();

    [Benchmark(OperationsPerInvoke = CostSubjects.WarmAllocations, Description = "pool.Allocate (warm chunk)")]
    public void Pool()
    {
        WriteOncePool pool = _pool!;
        nint[] objects = _objects;
        nuint size = (nuint)Size;
        for (int i = 0; i < objects.Length; i++)
        {
            objects[i] = pool.Allocate(size);
        }
    }

    [IterationSetup(Target = nameof(NativeMemoryAlloc))]
    public void WarmHeap()
    {
        for (int i = 0; i < _objects.Length; i++)
        {
            _objects[i] = (nint)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)Size);
        }

        FreeAll();
    }

    [IterationCleanup(Target = nameof(NativeMemoryAlloc))]
    public void FreeAll()
    {
        foreach (nint p in _objects)
        {
            System.Runtime.InteropServices.NativeMemory.Free((void*)p);
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = CostSubjects.WarmAllocations, Description = "NativeMemory.Alloc (warm heap)")]
    public void NativeMemoryAlloc()
    {
        nint[] objects = _objects;
        nuint size = (nuint)Size;
        for (int i = 0; i < objects.Length; i++)
        {
            objects[i] = (nint)System.Runtime.InteropServices.NativeMemory.Alloc(size);
        }
    }
}
