using BenchmarkDotNet.Attributes;
using Pmalloc.Bench;

namespace Pmalloc.Benchmarks;

/// <summary>
/// A write-rare update, and a batch of 100, into protected memory: the pool (Write: one pwrite; Publish, Add,
/// CompareExchange: a round trip to the writer process; a batch: held writes, coalesced into pwrite calls) against the
/// unsafe mprotect flip-flop doing the same stores (one page for one store, the whole 64 KiB chunk for 100) and
/// libsodium's read-write/read-only pair. The flip-flop is each category's baseline.
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

    [Benchmark(Description = "pool.Publish (writer process)")]
    [BenchmarkCategory("one update")]
    public void PoolPublish() => _s!.PoolPublish((nint)(++_value));

    [Benchmark(Description = "pool.Add (writer process)")]
    [BenchmarkCategory("one update")]
    public void PoolAdd() => _s!.PoolAdd(1);

    [Benchmark(Description = "pool.CompareExchange (writer process)")]
    [BenchmarkCategory("one update")]
    public void PoolCompareExchange() => _s!.PoolCompareExchange(++_value);

    [Benchmark(Baseline = true, Description = "mprotect flip-flop (1 page)")]
    [BenchmarkCategory("one update")]
    public void FlipFlop() => _s!.FlipFlopWrite(++_value);

    [Benchmark(Description = "sodium_mprotect_readwrite/readonly")]
    [BenchmarkCategory("one update")]
    public void Sodium() => _s!.SodiumWrite(++_value);

    [Benchmark(Description = "pool.BeginWrites batch")]
    [BenchmarkCategory("100 updates, adjacent allocations")]
    public void PoolBatch() => _s!.PoolBatch(++_value);

    [Benchmark(Baseline = true, Description = "mprotect flip-flop (64 KiB chunk)")]
    [BenchmarkCategory("100 updates, adjacent allocations")]
    public void FlipFlopBatch() => _s!.FlipFlopBatch(++_value);

    [Benchmark(Description = "sodium_mprotect_readwrite/readonly")]
    [BenchmarkCategory("100 updates, adjacent allocations")]
    public void SodiumBatch() => _s!.SodiumBatch(++_value);

    [Benchmark(Description = "pool.BeginWrites batch")]
    [BenchmarkCategory("100 updates, spread over the chunk")]
    public void PoolBatchSpread() => _s!.PoolBatchSpread(++_value);

    [Benchmark(Baseline = true, Description = "mprotect flip-flop (64 KiB chunk)")]
    [BenchmarkCategory("100 updates, spread over the chunk")]
    public void FlipFlopBatchSpread() => _s!.FlipFlopBatchSpread(++_value);
}
