using BenchmarkDotNet.Attributes;
using Pmalloc.Bench;

namespace Pmalloc.Benchmarks;

/// <summary>
/// A bounds check costs the same whatever the allocation's size and however many pools there are: CheckRead of 8 bytes
/// at the end of a 16 MiB allocation against a 16 B one, and random checks over 1,000 pools against one pool of 1,000
/// allocations.
/// </summary>
public class LookupScaleBenchmarks
{
    private LookupScaleSubjects? _s;

    [GlobalSetup]
    public void Setup() => _s = new LookupScaleSubjects();

    [GlobalCleanup]
    public void Cleanup() => _s?.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = 1 << 16, Description = "end of a 16 B allocation")]
    public long EndOfSmall() => _s!.CheckEndOfSmall();

    [Benchmark(OperationsPerInvoke = 1 << 16, Description = "end of a 16 MiB allocation")]
    public long EndOfLarge() => _s!.CheckEndOfLarge();

    [Benchmark(OperationsPerInvoke = 1 << 16, Description = "1,000 allocations in one pool")]
    public long InOnePool() => _s!.CheckInOnePool();

    [Benchmark(OperationsPerInvoke = 1 << 16, Description = "1,000 pools of one allocation")]
    public long AcrossPools() => _s!.CheckAcrossPools();
}
