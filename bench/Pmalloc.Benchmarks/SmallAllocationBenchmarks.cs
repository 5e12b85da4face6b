using BenchmarkDotNet.Attributes;
using Pmalloc.Bench;

namespace Pmalloc.Benchmarks;

/// <summary>
/// Time per small allocation, side by side: 10,000 objects per invocation (libsodium and the page-per-object
/// baseline map pages per object and would run into vm.max_map_count at 100,000). Setup and teardown
/// (making the pool, the OpenSSL arena; freeing) are outside the timing.
/// </summary>
[InvocationCount(1)]
public class SmallAllocationBenchmarks
{
    private const int Objects = 10_000;
    private readonly nint[] _objects = new nint[Objects];
    private readonly PoolAllocator _pool = new();
    private readonly NativeMemoryAllocator _malloc = new();
    private readonly SodiumAllocator _sodium = new();
    private readonly OpenSslAllocator _openssl = new();
    private readonly PagePerObjectAllocator _pages = new();

    [Params(16, 64, 256)]
    public int Size { get; set; }

    [IterationSetup(Target = nameof(Pool))]
    public void SetupPool() => _pool.Begin(Size, Objects);

    [IterationCleanup(Target = nameof(Pool))]
    public void CleanupPool() => _pool.End(_objects);

    /// <summary>A direct loop, as for malloc: no virtual call between the harness and the allocator.</summary>
    [Benchmark(OperationsPerInvoke = Objects, Description = "pmalloc pool")]
    public void Pool()
    {
        WriteOncePool pool = _pool.Pool!;
        nint[] objects = _objects;
        nuint size = (nuint)Size;
        for (int i = 0; i < objects.Length; i++)
        {
            objects[i] = pool.Allocate(size);
        }
    }

    [IterationCleanup(Target = nameof(NativeMemoryAlloc))]
    public void CleanupMalloc() => _malloc.End(_objects);

    [Benchmark(Baseline = true, OperationsPerInvoke = Objects, Description = "NativeMemory.Alloc")]
    public unsafe void NativeMemoryAlloc()
    {
        nint[] objects = _objects;
        nuint size = (nuint)Size;
        for (int i = 0; i < objects.Length; i++)
        {
            objects[i] = (nint)System.Runtime.InteropServices.NativeMemory.Alloc(size);
        }
    }

    [IterationSetup(Target = nameof(SodiumMalloc))]
    public void SetupSodium() => _sodium.Begin(Size, Objects);

    [IterationCleanup(Target = nameof(SodiumMalloc))]
    public void CleanupSodium() => _sodium.End(_objects);

    [Benchmark(OperationsPerInvoke = Objects, Description = "sodium_malloc")]
    public void SodiumMalloc() => Run(_sodium);

    [IterationSetup(Target = nameof(OpenSslSecureMalloc))]
    public void SetupOpenSsl() => _openssl.Begin(Size, Objects);

    [IterationCleanup(Target = nameof(OpenSslSecureMalloc))]
    public void CleanupOpenSsl() => _openssl.End(_objects);

    [Benchmark(OperationsPerInvoke = Objects, Description = "OpenSSL secure heap")]
    public void OpenSslSecureMalloc() => Run(_openssl);

    [IterationSetup(Target = nameof(PagePerObject))]
    public void SetupPages() => _pages.Begin(Size, Objects);

    [IterationCleanup(Target = nameof(PagePerObject))]
    public void CleanupPages() => _pages.End(_objects);

    [Benchmark(OperationsPerInvoke = Objects, Description = "mmap page per object")]
    public void PagePerObject() => Run(_pages);

    private void Run(SmallAllocator allocator)
    {
        nint[] objects = _objects;
        nuint size = (nuint)Size;
        for (int i = 0; i < objects.Length; i++)
        {
            objects[i] = allocator.Allocate(size);
        }
    }
}
