using BenchmarkDotNet.Attributes;
using Pmalloc.Bench;

namespace Pmalloc.Benchmarks;

/// <summary>
/// A write-rare update, and a batch of 100, into protected memory: the pool (pwrite; a one-page alias for Publish;
/// one alias per batch) against the unsafe mprotect flip-flop of the public page and libsodium's read-write/read-only pair.
/// </summary>
[GroupBenchmarksBy(BenchmarkDotNet.Configs.BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class WriteRareBenchmarks
{
    private WriteRareSubjects? _s;
    private long _value;

    [GlobalSetup]
    public void Setup() => _s = new WriteRareSubjects();

    [GlobalCleanup]
    public void Cleanup() => _s?.Dispose();

    [Benchmark(Description = "pool.Write (pwrite)")]
    [BenchmarkCategory("one update")]
    public void PoolWrite() => _s!.PoolWrite(++_value);

    [Benchmark(Description = "pool.Publish (alias)")]
    [BenchmarkCategory("one update")]
    public void PoolPublish() => _s!.PoolPublish((nint)(++_value));

    [Benchmark(Baseline = true, Description = "mprotect flip-flop")]
    [BenchmarkCategory("one update")]
    public void FlipFlop() => _s!.FlipFlopWrite(++_value);

    [Benchmark(Description = "sodium_mprotect_readwrite/readonly")]
    [BenchmarkCategory("one update")]
    public void Sodium() => _s!.SodiumWrite(++_value);

    [Benchmark(Description = "pool.BeginWrites batch")]
    [BenchmarkCategory("100 updates")]
    public void PoolBatch() => _s!.PoolBatch(++_value);

    [Benchmark(Baseline = true, Description = "mprotect flip-flop")]
    [BenchmarkCategory("100 updates")]
    public void FlipFlopBatch() => _s!.FlipFlopBatch(++_value);

    [Benchmark(Description = "sodium_mprotect_readwrite/readonly")]
    [BenchmarkCategory("100 updates")]
    public void SodiumBatch() => _s!.SodiumBatch(++_value);
}
