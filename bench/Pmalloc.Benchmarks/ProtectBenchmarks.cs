using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Pmalloc.Bench;
using Pmalloc.Bench.Native;

namespace Pmalloc.Benchmarks;

/// <summary>
/// <c>Protect</c> of a pool holding 1 MiB to 1 GiB (64 KiB allocations, every page written) against one
/// <c>mprotect(PROT_READ)</c> of one memfd mapping of the same length with the same pages written (the limit).
/// The memory is made and filled in the iteration setup, outside the timing; at most one pool or mapping
/// exists at a time (1 GiB at most on a shared 24 GiB machine).
/// </summary>
[InvocationCount(1)]
public unsafe class ProtectBenchmarks
{
    private const int Piece = 64 * 1024;
    private WriteOncePool? _pool;
    private MemfdMapping? _mapping;

    [Params(1, 16, 256, 1024)]
    public int MiB { get; set; }

    private long Bytes => (long)MiB << 20;

    [IterationSetup(Target = nameof(PoolProtect))]
    public void FillPool()
    {
        _pool = new WriteOncePool(new PoolOptions { Name = "bdn-protect" });
        for (long done = 0; done < Bytes; done += Piece)
        {
            NativeMemory.Fill((void*)_pool.Allocate(Piece), Piece, 0x5A);
        }
    }

    [IterationCleanup(Target = nameof(PoolProtect))]
    public void DisposePool() => _pool?.Dispose();

    [Benchmark(Description = "pool.Protect()")]
    public void PoolProtect() => _pool!.Protect();

    [IterationSetup(Target = nameof(OneMprotect))]
    public void FillMapping()
    {
        // The same length the pool maps for this many bytes, as one mapping.
        using (WriteOncePool probe = new(new PoolOptions { Name = "bdn-probe" }))
        {
            for (long done = 0; done < Bytes; done += Piece)
            {
                _ = probe.Allocate(Piece);
            }

            _mapping = new MemfdMapping("bdn-mprotect", (nuint)probe.Statistics.MappedBytes);
        }

        NativeMemory.Fill((void*)_mapping.Start, (nuint)Bytes, 0x5A);
    }

    [IterationCleanup(Target = nameof(OneMprotect))]
    public void UnmapMapping() => _mapping!.Dispose();

    [Benchmark(Baseline = true, Description = "one mprotect")]
    public void OneMprotect() => _mapping!.Protect(Libc.Prot.Read);
}
