using System.Runtime.InteropServices;

namespace Pmalloc.Tests;

/// <summary>
/// Child scenarios at the OS's limits (issue 11, items 4 and 5), run as <c>Pmalloc.Tests --child NAME</c>: each lowers a
/// limit or uses up a resource of its own process, which a test must not do to the test runner. Each prints what it saw
/// as "key: value" lines for the parent to check, and <see cref="SurvivedMarker"/> at the end.
/// </summary>
internal static unsafe partial class ChildScenarios
{
    private static readonly Dictionary<string, Action> ResourceScenarios = new(StringComparer.Ordinal)
    {
        ["descriptor-limit"] = DescriptorLimit,
        ["mapping-limit-near"] = MappingLimitNear,
        ["mapping-limit-pools"] = MappingLimitPools,
        ["file-size-limit"] = FileSizeLimit,
        ["write-past-chunk"] = () => WriteBesideChunk(after: true),
        ["write-before-chunk"] = () => WriteBesideChunk(after: false),
    };

    /// <summary>
    /// RLIMIT_NOFILE at 64: 300 protected write-once pools hold no descriptor, so they all fit; then writable pools (one
    /// memfd each) until the limit, whose refusal must name EMFILE, RLIMIT_NOFILE and <c>ulimit -n</c> and change nothing.
    /// </summary>
    private static void DescriptorLimit()
    {
        RawLibc.RLimit limit = new() { Current = 64, Maximum = 64 };
        if (RawLibc.setrlimit(RawLibc.RLimitNoFile, in limit) != 0)
        {
            throw new InvalidOperationException($"setup: setrlimit(RLIMIT_NOFILE) failed, errno {Marshal.GetLastPInvokeError()}");
        }

        List<ProtectablePool> pools = [];
        for (int i = 0; i < 300; i++)
        {
            WriteOncePool pool = new(new PoolOptions { Name = "child-fd-protected" });
            *(long*)pool.Allocate(64) = i;
            pool.Protect();
            pools.Add(pool);
        }

        Console.WriteLine($"protected pools: {pools.Count}");
        Console.WriteLine($"their descriptors: {TestPools.MemfdsOf("child-fd-protected").Length}");

        // Reading /proc takes a descriptor too: a spare one is given back for each look, and taken again before Allocate.
        Microsoft.Win32.SafeHandles.SafeFileHandle spare = File.OpenHandle("/dev/null");
        for (int i = 0; i < 1000; i++)
        {
            WriteOncePool pool = new(new PoolOptions { Name = "child-fd-writable" });
            PoolStatistics before = pool.Statistics;
            spare.Dispose();
            (int Maps, int Fds) resources = (MapsCount(), Directory.GetFiles("/proc/self/fd").Length);
            spare = File.OpenHandle("/dev/null");
            try
            {
                *(long*)pool.Allocate(64) = i;
                pools.Add(pool);
            }
            catch (IOException e)
            {
                spare.Dispose();
                Console.WriteLine($"writable pools before the refusal: {i}");
                Console.WriteLine($"refused: {e.GetType().Name}: {e.Message}");
                Console.WriteLine($"statistics unchanged: {pool.Statistics == before}");
                (int Maps, int Fds) after = (MapsCount(), Directory.GetFiles("/proc/self/fd").Length);
                Console.WriteLine($"descriptors unchanged: {after.Fds == resources.Fds} ({resources.Fds} then {after.Fds})");
                Console.WriteLine($"no mapping of the pool: {TestPools.MapsLinesOf("child-fd-writable").Length == pools.Count - 300} (process: {resources.Maps} then {after.Maps})");
                pool.Dispose();
                break;
            }
        }

        spare.Dispose();

        foreach (ProtectablePool pool in pools)
        {
            pool.Dispose();
        }

        Console.WriteLine($"left after dispose: {TestPools.MapsLinesOf("child-fd-protected").Length + TestPools.MapsLinesOf("child-fd-writable").Length} mappings, {TestPools.MemfdsOf("child-fd-writable").Length} descriptors");
    }

    /// <summary>
    /// Uses up vm.max_map_count with mappings of its own (alternating protections, so they do not merge) until fewer than the
    /// library's reserve are left; a pool's first chunk must then be refused, naming vm.max_map_count and the count, and
    /// change nothing; the runtime must go on (JIT, allocate, print); and once the mappings are given back, the chunk maps.
    /// </summary>
    private static void MappingLimitNear()
    {
        int page = Environment.SystemPageSize;
        int limit = MappingBudget.Limit, reserve = MappingBudget.Reserve;
        int filler = limit - reserve - MapsCount() + 16;
        nint region = Interop.mmap(0, (nuint)filler * (nuint)page, Interop.Prot.None, Interop.MapFlags.Private | Interop.MapFlags.Anonymous | Interop.MapFlags.NoReserve);
        if (region == Interop.MapFailed)
        {
            throw new InvalidOperationException("setup: cannot reserve the filler");
        }

        for (int i = 1; i < filler; i += 2)
        {
            _ = Interop.mprotect(region + (i * page), (nuint)page, Interop.Prot.Read);
        }

        Console.WriteLine($"mappings: {MapsCount()} of {limit}, reserve {reserve}");
        using WriteOncePool pool = new(new PoolOptions { Name = "child-maps-near" });
        PoolStatistics before = pool.Statistics;
        HashSet<string> descriptors = [.. Directory.GetFiles("/proc/self/fd")];
        try
        {
            _ = pool.Allocate(64);
            Console.WriteLine("Allocate went through within the reserve");
        }
        catch (InsufficientMemoryException e)
        {
            Console.WriteLine($"refused: {e.GetType().Name}: {e.Message}");
            Console.WriteLine($"statistics unchanged: {pool.Statistics == before}");
            // No memfd of the pool, and no other new descriptor but the runtime's own, which it opens lazily (a pipe, a
            // socket, an assembly: the arm64 ReadyToRun build opened a pipe during this refusal).
            string[] opened = [.. Directory.GetFiles("/proc/self/fd").Where(fd => !descriptors.Contains(fd)).Select(fd => TestPools.LinkTarget(fd) ?? "")
                .Where(target => !target.StartsWith("pipe:", StringComparison.Ordinal) && !target.StartsWith("socket:", StringComparison.Ordinal) && !target.EndsWith(".dll", StringComparison.Ordinal))];
            Console.WriteLine($"no mapping and no descriptor left: {TestPools.MapsLinesOf("child-maps-near").Length == 0 && TestPools.MemfdsOf("child-maps-near").Length == 0 && opened.Length == 0}{(opened.Length == 0 ? "" : $" (opened: {string.Join(", ", opened)})")}");
        }

        // The runtime still has room: new code, new objects.
        Func<int, string> fresh = static n => string.Join(",", Enumerable.Range(0, n).Select(i => (i * 7).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Console.WriteLine($"runtime alive: {fresh(3)}");

        _ = Interop.munmap(region, (nuint)filler * (nuint)page);
        *(long*)pool.Allocate(64) = 1;
        Console.WriteLine($"after the mappings were given back: {pool.Statistics.Chunks} chunk");
    }

    /// <summary>The issue's case: protected pools until vm.max_map_count; the refusal must come while the runtime can still run, and name the limit.</summary>
    private static void MappingLimitPools()
    {
        List<WriteOncePool> pools = [];
        string? refusal = null;
        while (refusal is null && pools.Count < 200_000)
        {
            WriteOncePool pool = new(new PoolOptions { Name = "child-maps-pools" });
            try
            {
                *(long*)pool.Allocate(16) = pools.Count;
                pool.Protect();
                pools.Add(pool);
            }
            catch (InsufficientMemoryException e)
            {
                refusal = e.Message;
                pool.Dispose();
            }
        }

        Console.WriteLine($"pools: {pools.Count}, mappings: {MapsCount()} of {MappingBudget.Limit}");
        Console.WriteLine($"refused: {refusal}");
        Func<int, int> fresh = static n => Enumerable.Range(0, n).Sum(i => i * i);
        Console.WriteLine($"runtime alive: {fresh(10)}");
        foreach (WriteOncePool pool in pools)
        {
            pool.Dispose();
        }

        GC.Collect();
        Console.WriteLine($"left after dispose: {TestPools.MapsLinesOf("child-maps-pools").Length} mappings");
    }

    /// <summary>RLIMIT_FSIZE below a pool's size: the chunk is refused with EFBIG naming the limit, not the process killed by SIGXFSZ.</summary>
    private static void FileSizeLimit()
    {
        RawLibc.RLimit limit = new() { Current = 1 << 20, Maximum = ulong.MaxValue };
        if (RawLibc.setrlimit(RawLibc.RLimitFileSize, in limit) != 0)
        {
            throw new InvalidOperationException($"setup: setrlimit(RLIMIT_FSIZE) failed, errno {Marshal.GetLastPInvokeError()}");
        }

        using WriteOncePool pool = new(new PoolOptions { Name = "child-fsize" });
        *(long*)pool.Allocate(64) = 1; // fits
        PoolStatistics before = pool.Statistics;
        try
        {
            _ = pool.Allocate(4 << 20);
            Console.WriteLine("Allocate went through past RLIMIT_FSIZE");
        }
        catch (IOException e)
        {
            Console.WriteLine($"refused: {e.GetType().Name}: {e.Message}");
            Console.WriteLine($"statistics unchanged: {pool.Statistics == before}");
        }
    }

    /// <summary>A linear overflow (or underflow) off a writable chunk lands in its guard page and stops the process.</summary>
    private static void WriteBesideChunk(bool after)
    {
        using WriteOncePool pool = new(new PoolOptions { Name = "child-guard" });
        nint p = pool.Allocate(64);
        *(long*)p = Secret;
        Chunk chunk = pool.Chunks[0];
        Console.WriteLine($"guards installed: {chunk.Mapping.GuardsInstalled}");
        Ready();
        *(long*)(after ? chunk.End : chunk.Start - sizeof(long)) = 0x0BAD;
    }

    private static int MapsCount() => File.ReadAllLines("/proc/self/maps").Length;
}
