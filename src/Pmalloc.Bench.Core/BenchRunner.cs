using System.Collections.Frozen;
using System.Diagnostics;
using Pmalloc.Bench.Native;
using System.Runtime.InteropServices;

namespace Pmalloc.Bench;

/// <summary>How much <see cref="BenchRunner"/> measures.</summary>
/// <param name="Quick">Fewer repeats, pools up to 64 MiB, at most 20,000 files: seconds, not minutes.</param>
/// <param name="FileRoot">The directory the real workload indexes.</param>
/// <param name="CostsOnly">Measure only what a pool costs (lifecycle, chunk map+unmap, warm fast path, VMAs, resident bytes, a million allocations).</param>
public sealed record BenchSettings(bool Quick, string FileRoot = "/usr", bool CostsOnly = false)
{
    /// <summary>Measure only the protected collections (string lookups, builds, crafted keys).</summary>
    public bool CollectionsOnly { get; init; }

    public int SmallObjects => 100_000;

    public int[] SmallSizes => [16, 64, 256];

    public int Repeats => Quick ? 1 : 3;

    public long[] ProtectSizes => Quick ? [1L << 20, 16L << 20, 64L << 20] : [1L << 20, 16L << 20, 256L << 20, 1L << 30];

    public int FileLimit => Quick ? 20_000 : int.MaxValue;

    public int Lookups => Quick ? 1 << 20 : 1 << 23;
}

/// <summary>
/// The side-by-side measurements behind <c>pmalloc bench</c> (the BenchmarkDotNet project measures the same
/// operations with the same types). Every figure of a report comes from one process and one run.
/// </summary>
/// <remarks>
/// Timing is <see cref="Stopwatch"/> over a loop of many operations, after a warm-up run; with repeats,
/// the median. Memory is read from <c>/proc/self</c> (<see cref="MemoryReading"/>) before and after, with
/// the managed objects of the harness allocated before the first reading.
/// </remarks>
public static unsafe class BenchRunner
{
    /// <summary>Runs everything and returns the report. <paramref name="log"/> gets a line per step.</summary>
    public static BenchReport Run(BenchSettings settings, Action<string> log)
    {
        Stopwatch total = Stopwatch.StartNew();
        BenchReport report = new() { Machine = MachineInfo.Current(), Quick = settings.Quick, StartedUtc = DateTime.UtcNow };
        if (settings.CollectionsOnly)
        {
            report.Collections = CollectionBench.Measure(settings.Quick, log);
            Targets.Evaluate(report);
            report.Seconds = total.Elapsed.TotalSeconds;
            return report;
        }

        foreach (SmallAllocator allocator in settings.CostsOnly ? [new PoolAllocator(), new NativeMemoryAllocator()] : SmallAllocator.All)
        {
            if (allocator.Missing is { } why)
            {
                log($"skipping {allocator.Name}: {why}");
                report.Skipped.Add(new SkippedColumn(allocator.Name, why));
                continue;
            }

            foreach (int size in settings.CostsOnly ? [64] : settings.SmallSizes)
            {
                log($"small allocations: {allocator.Name}, {size} B");
                report.SmallAllocations.Add(MeasureSmall(allocator, size, Math.Min(settings.SmallObjects, allocator.MaxObjects), settings.Repeats));
            }
        }

        log("what a pool costs: lifecycle, chunk map+unmap, warm fast path (interleaved rounds, thread CPU time)");
        report.Costs.AddRange(MeasureCosts(settings.Quick ? 5 : 15));
        report.ChunkVmas = MeasureChunkVmas();

        log("a million 16-byte allocations in one pool");
        report.Million = MeasureMillion();
        if (settings.CostsOnly)
        {
            Targets.Evaluate(report);
            report.Seconds = total.Elapsed.TotalSeconds;
            return report;
        }

        foreach (long bytes in settings.ProtectSizes)
        {
            log($"Protect vs mprotect: {bytes >> 20} MiB");
            report.Protect.Add(MeasureProtect(bytes, Math.Max(settings.Repeats, 3)));
        }

        log("lookups: int table");
        report.Lookups.AddRange(MeasureIntLookups(100_000, settings.Lookups));

        log("CheckRead on a pool with a million live allocations");
        report.CheckRead = MeasureCheckRead(settings.Lookups);

        log("CheckRead by allocation size and by number of pools");
        report.LookupScale = MeasureLookupScale(settings.Lookups);

        log("write-rare updates");
        report.WriteRare.AddRange(MeasureWriteRare(settings.Quick ? 2_000 : 20_000));

        report.Collections = CollectionBench.Measure(settings.Quick, log);

        log($"file index: walking {settings.FileRoot}");
        report.FileIndex = MeasureFileIndex(FileRecords.Load(settings.FileRoot, settings.FileLimit), settings.FileRoot, settings.Lookups, log);

        Targets.Evaluate(report);
        report.Seconds = total.Elapsed.TotalSeconds;
        return report;
    }

    /// <summary>Allocates <paramref name="count"/> objects, writes them, protects them where possible, frees them.</summary>
    public static SmallAllocationResult MeasureSmall(SmallAllocator allocator, int size, int count, int repeats)
    {
        // Warm-up at full size: JIT, the libraries' lazy set-up, and the runtime's own first-time growth (code heap,
        // GC regions), which would otherwise land in the first run's resident and mapping figures.
        _ = MeasureSmallOnce(allocator, size, count);
        SmallAllocationResult[] runs = new SmallAllocationResult[repeats];
        for (int r = 0; r < repeats; r++)
        {
            runs[r] = MeasureSmallOnce(allocator, size, count);
        }

        // Memory figures are the same every run; times take the median.
        SmallAllocationResult last = runs[^1];
        return last with
        {
            NsPerAllocation = Median(runs.Select(x => x.NsPerAllocation)),
            NsPerAllocationAndFill = Median(runs.Select(x => x.NsPerAllocationAndFill)),
            NsPerObjectToProtect = last.NsPerObjectToProtect is null ? null : Median(runs.Select(x => x.NsPerObjectToProtect!.Value)),
        };
    }

    private static SmallAllocationResult MeasureSmallOnce(SmallAllocator allocator, int size, int count)
    {
        // Written once before the first reading, so its own pages (8 bytes per object) are not counted as the allocator's.
        nint[] objects = new nint[count];
        objects.AsSpan().Fill(-1);
        Collect();
        MemoryReading before = MemoryReading.Now();
        allocator.Begin(size, count);

        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < objects.Length; i++)
        {
            objects[i] = allocator.Allocate((nuint)size);
        }

        long t1 = Stopwatch.GetTimestamp();
        allocator.Verify(objects);
        long t2 = Stopwatch.GetTimestamp();
        for (int i = 0; i < objects.Length; i++)
        {
            new Span<byte>((void*)objects[i], size).Fill(0x5A);
        }

        long t3 = Stopwatch.GetTimestamp();
        MemoryReading written = MemoryReading.Now() - before;

        double? protectNs = null;
        if (allocator.CanProtect)
        {
            long p0 = Stopwatch.GetTimestamp();
            allocator.ProtectAll(objects);
            protectNs = Ns(p0, Stopwatch.GetTimestamp()) / count;
        }

        MemoryReading protectedReading = MemoryReading.Now() - before;
        allocator.End(objects);

        return new SmallAllocationResult(allocator.Name, size, count,
            Ns(t0, t1) / count,
            (Ns(t0, t1) + Ns(t2, t3)) / count,
            (double)written.MappedBytes / count,
            (double)written.ResidentBytes / count,
            protectedReading.Mappings * 1000.0 / count,
            protectNs);
    }

    /// <summary>The measure names of <see cref="MeasureCosts"/>.</summary>
    public const string Lifecycle = "small-pool lifecycle", ChunkCycle = "64 KiB chunk map+unmap", WarmAllocate = "warm allocation";

    /// <summary>The subject names of <see cref="MeasureCosts"/>.</summary>
    public const string PoolSubject = "pmalloc pool", SodiumSubject = "sodium_malloc(640) + mprotect_readonly + free",
        PageSubject = "aligned_alloc page + mprotect", PoolLifecycleReplaySubject = "the pool's system calls alone (replayed)", OldChunkSubject = "memfd per chunk + PROT_NONE reservation (replayed)",
        NewChunkSubject = "pool memfd + MADV_GUARD_INSTALL (replayed)", MallocSubject = "NativeMemory.Alloc (warm heap)";

    /// <summary>
    /// What a pool costs (<see cref="CostSubjects"/>), each subject next to its rival, in <paramref name="rounds"/>
    /// interleaved rounds; the median round, in thread CPU time (time spent waiting for a shared core is not counted).
    /// </summary>
    public static List<CostResult> MeasureCosts(int rounds)
    {
        using CostSubjects s = new();
        bool sodium = CostSubjects.SodiumMissing is null, guard = CostSubjects.GuardInstall;
        List<(string Measure, string Subject, int Size, Func<double> Time)> subjects =
        [
            (Lifecycle, PoolSubject, 640, () => Loop(400, CostSubjects.PoolLifecycle)),
            (Lifecycle, PageSubject, 640, () => Loop(400, CostSubjects.PageLifecycle)),
            (ChunkCycle, PoolSubject, CostSubjects.ChunkBytes, () => Loop(1000, s.PoolChunkCycle)),
            (ChunkCycle, OldChunkSubject, CostSubjects.ChunkBytes, () => Loop(1000, CostSubjects.ReplayMemfdPerChunk)),
        ];
        if (sodium)
        {
            subjects.Insert(1, (Lifecycle, SodiumSubject, 640, () => Loop(400, CostSubjects.SodiumLifecycle)));
        }

        if (guard)
        {
            subjects.Insert(sodium ? 3 : 2, (Lifecycle, PoolLifecycleReplaySubject, 640, () => Loop(400, CostSubjects.ReplayPoolLifecycle)));
            subjects.Add((ChunkCycle, NewChunkSubject, CostSubjects.ChunkBytes, () => Loop(1000, s.ReplayPoolMemfd)));
        }

        foreach (int size in (int[])[16, 64])
        {
            subjects.Add((WarmAllocate, PoolSubject, size, () => s.TimeWarmPool(size)));
            subjects.Add((WarmAllocate, MallocSubject, size, () => s.TimeWarmMalloc(size)));
        }

        // A warm-up round (JIT, libsodium's set-up, the runtime's first growth), then the measured ones.
        foreach (var subject in subjects)
        {
            _ = subject.Time();
        }

        List<double>[] times = [.. subjects.Select(_ => new List<double>())];
        for (int r = 0; r < rounds; r++)
        {
            for (int i = 0; i < subjects.Count; i++)
            {
                times[i].Add(subjects[i].Time());
            }
        }

        return [.. subjects.Select((x, i) => new CostResult(x.Measure, x.Subject, x.Size, Median(times[i])))];

        // Each timed loop starts after one untimed call of its own: a subject then starts warm whatever ran before it in
        // the round. Without it the first call after the 64 MiB warm pools cost about 400 µs (caches, TLB, the kernel's
        // page lists), about 1 µs of every lifecycle charged to whichever subject came next.
        static double Loop(int count, Action op)
        {
            op();
            long t0 = Libc.ThreadCpuNs();
            for (int i = 0; i < count; i++)
            {
                op();
            }

            return (double)(Libc.ThreadCpuNs() - t0) / count;
        }
    }

    /// <summary>The VMAs a protected pool of several chunks takes, guard pages included, per chunk.</summary>
    public static ChunkVmaResult MeasureChunkVmas()
    {
        const string Name = "bench-vmas";
        using WriteOncePool pool = new(new PoolOptions { Name = Name });
        for (int i = 0; i < 16_384; i++)
        {
            *(long*)pool.Allocate(64) = i;
        }

        pool.Protect();
        int chunks = pool.Statistics.Chunks, vmas = ProcessMemory.PoolVmas(Name);
        return new ChunkVmaResult(chunks, vmas, (double)vmas / chunks, ProtectedMemory.Support.GuardInstall);
    }

    /// <summary>A million 16-byte allocations in one pool: how many mappings does it take?</summary>
    public static MillionResult MeasureMillion()
    {
        const int Count = 1_000_000;
        const string Name = "bench-million";
        Collect();
        MemoryReading before = MemoryReading.Now();
        using WriteOncePool pool = new(new PoolOptions { Name = Name });
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < Count; i++)
        {
            *(long*)pool.Allocate(16) = i;
        }

        long t1 = Stopwatch.GetTimestamp();
        pool.Protect();
        MemoryReading after = MemoryReading.Now() - before;
        (_, long resident, int poolMappings) = ProcessMemory.PoolMappings(Name);
        return new MillionResult(Count, pool.Statistics.Chunks, poolMappings, after.Mappings, Ns(t0, t1) / Count, pool.Statistics.MappedBytes, resident);
    }

    /// <summary>
    /// <c>Protect</c> of a pool filled with <paramref name="bytes"/> (in 64 KiB allocations, every page written) against
    /// one <c>mprotect(PROT_READ)</c> of one memfd mapping of the pool's mapped length with the same number of pages
    /// written: the limit for making that much memory read-only. Median of <paramref name="repeats"/>, alternating.
    /// </summary>
    public static ProtectResult MeasureProtect(long bytes, int repeats)
    {
        const int Piece = 64 * 1024;
        List<double> pool = [], baseline = [];
        long mapped = 0;
        int chunks = 0;
        for (int r = 0; r < repeats; r++)
        {
            using (WriteOncePool p = new(new PoolOptions { Name = "bench-protect" }))
            {
                for (long done = 0; done < bytes; done += Piece)
                {
                    NativeMemory.Fill((void*)p.Allocate(Piece), Piece, 0x5A);
                }

                mapped = p.Statistics.MappedBytes;
                chunks = p.Statistics.Chunks;
                long t0 = Stopwatch.GetTimestamp();
                p.Protect();
                pool.Add(Ns(t0, Stopwatch.GetTimestamp()) / 1000);
            }

            using (MemfdMapping m = new("bench-mprotect", (nuint)mapped))
            {
                NativeMemory.Fill((void*)m.Start, (nuint)bytes, 0x5A);
                long t0 = Stopwatch.GetTimestamp();
                m.Protect(Libc.Prot.Read);
                baseline.Add(Ns(t0, Stopwatch.GetTimestamp()) / 1000);
            }
        }

        double poolUs = Median(pool), mprotectUs = Median(baseline);
        return new ProtectResult(bytes, mapped, chunks, poolUs, mprotectUs, poolUs / mprotectUs);
    }

    /// <summary>CheckRead, a plain Span copy and pool.Read over random allocations of a pool with a million live ones.</summary>
    public static CheckReadResult MeasureCheckRead(int checks)
    {
        using CheckReadSubjects s = new();
        int rounds = Math.Max(2, checks / s.Count);
        return new CheckReadResult(CheckReadSubjects.LiveAllocations, CheckReadSubjects.Size,
            NsPerOperation(s.CheckRead, rounds, s.Count), NsPerOperation(s.SpanCopy, rounds, s.Count), NsPerOperation(s.CheckedRead, rounds, s.Count));
    }

    /// <summary>Runs <paramref name="loop"/> (which does <paramref name="count"/> operations) once to warm up, then <paramref name="rounds"/> times; ns per operation.</summary>
    private static double NsPerOperation(Func<long> loop, int rounds, int count)
    {
        long sink = loop();
        long t0 = Stopwatch.GetTimestamp();
        for (int r = 0; r < rounds; r++)
        {
            sink += loop();
        }

        double ns = Ns(t0, Stopwatch.GetTimestamp()) / ((double)rounds * count);
        GC.KeepAlive(sink);
        return ns;
    }

    /// <summary>CheckRead at the end of a 16 MiB and of a 16 B allocation; over 1,000 pools and over one pool of 1,000 allocations.</summary>
    public static LookupScaleResult MeasureLookupScale(int checks)
    {
        using LookupScaleSubjects s = new();
        int rounds = Math.Max(2, checks / s.Count);

        // Interleaved, so that machine noise falls on both sides of each ratio alike.
        double large = 0, small = 0, across = 0, one = 0;
        for (int r = 0; r < 3; r++)
        {
            large += Time(s.CheckEndOfLarge);
            small += Time(s.CheckEndOfSmall);
            across += Time(s.CheckAcrossPools);
            one += Time(s.CheckInOnePool);
        }

        return new LookupScaleResult(LookupScaleSubjects.LargeSize, LookupScaleSubjects.SmallSize, large / 3, small / 3,
            LookupScaleSubjects.Pools, across / 3, one / 3);

        double Time(Func<long> loop) => NsPerOperation(loop, rounds, s.Count);
    }

    /// <summary>
    /// Write-rare updates, one and a batch of 100, against the mprotect flip-flop (one page for one store, the whole 64 KiB
    /// chunk for 100) and libsodium, measured side by side in rounds (each method once per round, in turn), so that the
    /// machine's noise falls on all of them alike; ns per operation, the median of the rounds.
    /// </summary>
    public static List<WriteRareResult> MeasureWriteRare(int operations)
    {
        using WriteRareSubjects s = new();
        bool sodium = WriteRareSubjects.SodiumMissing is null;
        const int Rounds = 5;
        int ones = Math.Max(10, operations / Rounds), publishes = Math.Max(10, operations / (4 * Rounds)), batches = Math.Max(10, operations / (WriteRareSubjects.BatchSize * Rounds) * 10);
        List<(int Updates, string Method, int Count, Action<long> Op)> subjects =
        [
            (1, "pool.Write (pwrite)", ones, s.PoolWrite),
            (1, "pool.Publish (writer process)", publishes, i => s.PoolPublish((nint)i)),
            (1, "pool.Add (writer process)", publishes, s.PoolAdd),
            (1, "pool.CompareExchange (writer process)", publishes, s.PoolCompareExchange),
            (1, "mprotect flip-flop", ones, s.FlipFlopWrite),
        ];
        if (sodium)
        {
            subjects.Add((1, "sodium_mprotect_readwrite/readonly", ones, s.SodiumWrite));
        }

        subjects.Add((WriteRareSubjects.BatchSize, "pool.BeginWrites batch", batches, s.PoolBatch));
        subjects.Add((WriteRareSubjects.BatchSize, "mprotect flip-flop", batches, s.FlipFlopBatch));
        subjects.Add((WriteRareSubjects.BatchSize, "pool.BeginWrites batch, spread over the chunk", batches, s.PoolBatchSpread));
        subjects.Add((WriteRareSubjects.BatchSize, "mprotect flip-flop, spread over the chunk", batches, s.FlipFlopBatchSpread));
        subjects.Add((WriteRareSubjects.BatchSize, "pool.Write each", Math.Max(2, batches / 10), s.PoolWrites));
        if (sodium)
        {
            subjects.Add((WriteRareSubjects.BatchSize, "sodium_mprotect_readwrite/readonly", batches, s.SodiumBatch));
        }

        double[][] samples = [.. subjects.Select(_ => new double[Rounds])];
        for (int round = 0; round < Rounds; round++)
        {
            for (int k = 0; k < subjects.Count; k++)
            {
                samples[k][round] = Time(subjects[k].Count, subjects[k].Op);
            }
        }

        List<WriteRareResult> results = [.. subjects.Select((x, k) => new WriteRareResult(x.Updates, x.Method, Median(samples[k])))];
        s.PoolWrite(-1);
        s.FlipFlopWrite(-1);
        s.PoolBatchSpread(-1);
        s.FlipFlopBatch(-1);
        if (sodium)
        {
            s.SodiumWrite(-1);
        }

        return s.Holds(-1) ? results : throw new InvalidOperationException("a write-rare update did not land");

        static double Median(double[] values)
        {
            double[] sorted = [.. values.Order()];
            return sorted[sorted.Length / 2];
        }

        // ns per call of op(i), after a warm-up of a tenth as many calls.
        static double Time(int count, Action<long> op)
        {
            for (int i = 0; i < Math.Max(1, count / 10); i++)
            {
                op(i);
            }

            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < count; i++)
            {
                op(i);
            }

            return Ns(t0, Stopwatch.GetTimestamp()) / count;
        }
    }

    /// <summary>Int-key lookups: the same table in a protected pool and in a managed array, against Dictionary and FrozenDictionary.</summary>
    public static List<LookupResult> MeasureIntLookups(int entries, int lookups)
    {
        (int[] keys, long[] values, int[] queries) = IntData(entries);
        Dictionary<int, long> dictionary = [];
        for (int i = 0; i < keys.Length; i++)
        {
            dictionary.Add(keys[i], values[i]);
        }

        FrozenDictionary<int, long> frozen = dictionary.ToFrozenDictionary();
        using ProtectedDictionary<int, long> protectedDictionary = dictionary.ToProtectedDictionary(new PoolOptions { Name = "bench-table-dictionary" });
        using WriteOncePool pool = new(new PoolOptions { Name = "bench-table" });
        IntTable inPool = IntTable.InPool(pool, keys, values);
        pool.Protect();
        IntTable inArray = IntTable.InArray(keys, values);

        List<LookupResult> results =
        [
            new("ProtectedDictionary", "protected pool", entries, TimeLookups(queries, lookups, k => protectedDictionary.TryGetValue(k, out long v) ? v : 0)),
            new("open addressing", "protected pool", entries, TimeLookups(queries, lookups, k => inPool.TryGetValue(k, out long v) ? v : 0)),
            new("open addressing", "managed array", entries, TimeLookups(queries, lookups, k => inArray.TryGetValue(k, out long v) ? v : 0)),
            new("FrozenDictionary", "GC heap", entries, TimeLookups(queries, lookups, k => frozen.TryGetValue(k, out long v) ? v : 0)),
            new("Dictionary", "GC heap", entries, TimeLookups(queries, lookups, k => dictionary.TryGetValue(k, out long v) ? v : 0)),
        ];
        return results;
    }

    /// <summary>Distinct random keys, values, and a shuffled query set of half hits, half misses (seeded: every run asks the same).</summary>
    public static (int[] Keys, long[] Values, int[] Queries) IntData(int entries)
    {
        Random random = new(42);
        HashSet<int> set = [];
        while (set.Count < entries * 2)
        {
            set.Add(random.Next());
        }

        int[] all = [.. set];
        int[] keys = all[..entries];
        long[] values = [.. keys.Select(k => (long)k * 3)];
        int[] queries = new int[1 << 16];
        for (int i = 0; i < queries.Length; i++)
        {
            queries[i] = (i & 1) == 0 ? keys[random.Next(entries)] : all[entries + random.Next(entries)];
        }

        return (keys, values, queries);
    }

    /// <summary>The real workload: the file index in a pool, a Dictionary and a FrozenDictionary; build, memory, lookups.</summary>
    public static FileIndexResult MeasureFileIndex(FileRecords records, string root, int lookups, Action<string> log)
    {
        string[] queries = FileQueries(records);
        List<FileIndexVariant> variants = [];

        log($"file index: {records.Count} files into a pool");
        variants.Add(MeasureVariant("protected pool (in-pool hash index)", () => PoolFileIndex.Build(records, "bench-files"),
            "bench-files",
            index => TimeLookups(queries, lookups, q => index.TryGetValue(q, out FileMeta m) ? m.Size : 0),
            index => index.Dispose()));

        log("file index: Dictionary<string, FileMeta>");
        variants.Add(MeasureVariant("Dictionary<string, FileMeta>", () => BuildDictionary(records), null,
            index => TimeLookups(queries, lookups, q => index.TryGetValue(q, out FileMeta m) ? m.Size : 0),
            _ => { }));

        log("file index: FrozenDictionary<string, FileMeta>");
        variants.Add(MeasureVariant("FrozenDictionary<string, FileMeta>", () => BuildDictionary(records).ToFrozenDictionary(), null,
            index => TimeLookups(queries, lookups, q => index.TryGetValue(q, out FileMeta m) ? m.Size : 0),
            _ => { }));

        log("file index: ProtectedDictionary<ProtectedString, FileMeta>");
        variants.Add(MeasureVariant("ProtectedDictionary<ProtectedString, FileMeta>",
            () => Pairs(records).ToProtectedDictionary(null, new PoolOptions { Name = "bench-files-dictionary" }),
            "bench-files-dictionary",
            index => TimeLookups(queries, lookups, q => index.TryGetValue(q, out FileMeta m) ? m.Size : 0),
            index => index.Dispose()));

        return new FileIndexResult(root, records.Count, variants);
    }

    /// <summary>The records as key/value pairs with fresh key strings, as a loader reading the file system makes them.</summary>
    public static IEnumerable<KeyValuePair<string, FileMeta>> Pairs(FileRecords records)
    {
        for (int i = 0; i < records.Count; i++)
        {
            yield return new(new string(records.Path(i)), records.Metas[i]);
        }
    }

    /// <summary>A Dictionary with its own key strings, as a loader reading the file system makes them.</summary>
    public static Dictionary<string, FileMeta> BuildDictionary(FileRecords records)
    {
        Dictionary<string, FileMeta> dictionary = new(records.Count);
        for (int i = 0; i < records.Count; i++)
        {
            dictionary.Add(new string(records.Path(i)), records.Metas[i]);
        }

        return dictionary;
    }

    /// <summary>Existing paths and the same paths with a suffix (misses), shuffled, as fresh strings.</summary>
    public static string[] FileQueries(FileRecords records)
    {
        Random random = new(7);
        string[] queries = new string[1 << 15];
        for (int i = 0; i < queries.Length; i++)
        {
            string path = new(records.Path(random.Next(records.Count)));
            queries[i] = (i & 1) == 0 ? path : path + ".missing";
        }

        return queries;
    }

    /// <summary>
    /// Builds one index (timed), weighs it, times lookups. An index in pool <paramref name="poolName"/> weighs the growth
    /// of the resident pages of the pool's mappings (smaps) plus what malloc handed out for it (the allocator's
    /// bookkeeping, off the pool); a managed one (<paramref name="poolName"/> null) the growth of the GC heap.
    /// </summary>
    private static FileIndexVariant MeasureVariant<T>(string name, Func<T> build, string? poolName, Func<T, double> lookup, Action<T> dispose)
    {
        // A first build: JIT, and the buffers LINQ and the builders rent from ArrayPool.Shared, which the process keeps
        // for reuse (a first ProtectedDictionary build leaves ~40 bytes per entry there) and which are not the index's
        // own memory. It stays alive until the measured build is weighed: a protected pool's bookkeeping is freed only
        // once the GC finds it unreachable, and that must not happen in the middle of the measurement.
        T warm = build();
        Collect();
        long heap0 = GC.GetTotalMemory(forceFullCollection: true);
        long native0 = Glibc.AllocatedBytes();
        long resident0 = poolName is null ? 0 : ProcessMemory.PoolMappings(poolName).ResidentBytes;
        long t0 = Stopwatch.GetTimestamp();
        T index = build();
        double buildMs = Ns(t0, Stopwatch.GetTimestamp()) / 1e6;
        Collect();
        long heap = GC.GetTotalMemory(forceFullCollection: true) - heap0;
        long native = Glibc.AllocatedBytes() - native0;
        long memory = poolName is null ? heap : ProcessMemory.PoolMappings(poolName).ResidentBytes - resident0 + native;
        dispose(warm);
        double ns = lookup(index);
        dispose(index);
        GC.KeepAlive(index);
        return new FileIndexVariant(name, buildMs, memory, heap, ns);
    }

    /// <summary>ns per lookup over <paramref name="lookups"/> lookups cycling through <paramref name="queries"/>, after a warm-up pass.</summary>
    private static double TimeLookups<TQuery>(TQuery[] queries, int lookups, Func<TQuery, long> lookup)
    {
        long sink = 0;
        foreach (TQuery q in queries)
        {
            sink += lookup(q);
        }

        int rounds = Math.Max(1, lookups / queries.Length);
        long t0 = Stopwatch.GetTimestamp();
        for (int r = 0; r < rounds; r++)
        {
            foreach (TQuery q in queries)
            {
                sink += lookup(q);
            }
        }

        double ns = Ns(t0, Stopwatch.GetTimestamp()) / ((double)rounds * queries.Length);
        GC.KeepAlive(sink);
        return ns;
    }

    /// <summary>A full GC, and glibc's free pages back to the kernel: every memory reading starts from the same clean state.</summary>
    private static void Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Native.Glibc.Trim();
    }

    private static double Ns(long from, long to) => (to - from) * 1e9 / Stopwatch.Frequency;

    private static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
