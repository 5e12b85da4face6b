using BenchmarkDotNet.Attributes;
using Pmalloc.Bench;

namespace Pmalloc.Benchmarks;

/// <summary>Hardened usercopy: <c>ProtectedMemory.CheckRead</c> of a 16-byte allocation among a million live ones, next to a plain copy of the same bytes and the pool's checked copy-out.</summary>
public class UsercopyBenchmarks
{
    private CheckReadSubjects? _s;

    [GlobalSetup]
    public void Setup() => _s = new CheckReadSubjects();

    [GlobalCleanup]
    public void Cleanup() => _s?.Dispose();

    [Benchmark(OperationsPerInvoke = 1 << 16, Description = "ProtectedMemory.CheckRead")]
    public long CheckRead() => _s!.CheckRead();

    [Benchmark(Baseline = true, OperationsPerInvoke = 1 << 16, Description = "plain Span copy")]
    public long SpanCopy() => _s!.SpanCopy();

    [Benchmark(OperationsPerInvoke = 1 << 16, Description = "pool.Read (checked copy)")]
    public long PoolRead() => _s!.CheckedRead();
}
