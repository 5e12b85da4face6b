using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Filters;
using BenchmarkDotNet.Running;
using Pmalloc.Bench;
using Pmalloc.Benchmarks;

// BenchmarkSwitcher over every benchmark class, with MemoryDiagnoser; columns whose native library is
// missing here (libsodium, OpenSSL) are filtered out with a message instead of failing.
ManualConfig config = ManualConfig.Create(DefaultConfig.Instance).AddDiagnoser(MemoryDiagnoser.Default);
foreach (SmallAllocator allocator in SmallAllocator.All)
{
    if (allocator.Missing is { } why)
    {
        Console.Error.WriteLine($"skipping {allocator.Name}: {why}");
        string word = Categories.MethodWordOf(allocator);
        config.AddFilter(new SimpleFilter(b => !b.Descriptor.WorkloadMethod.Name.Contains(word, StringComparison.Ordinal)));
    }
}

BenchmarkSwitcher.FromAssembly(typeof(Categories).Assembly).Run(args, config);
return 0;
