namespace Pmalloc.Bench;

/// <summary>The targets, checked against the figures of one report (ratios from the same run).</summary>
public static class Targets
{
    public static void Evaluate(BenchReport report)
    {
        List<TargetResult> t = report.Targets;
        SmallAllocationResult? Small(string allocator, int size) =>
            report.SmallAllocations.FirstOrDefault(r => r.Allocator == allocator && r.Size == size);

        foreach (int size in report.SmallAllocations.Select(r => r.Size).Distinct())
        {
            if (Small("pmalloc pool", size) is not { } pool)
            {
                continue;
            }

            if (Small("NativeMemory.Alloc", size) is { } malloc)
            {
                double ratio = malloc.NsPerAllocation / pool.NsPerAllocation;
                t.Add(new($"pool allocation ({size} B) no slower than NativeMemory.Alloc", $"NativeMemory.Alloc / pool time = {ratio:0.00}x", ratio, 1, ratio >= 1));
            }

            if (Small("sodium_malloc", size) is { } sodium)
            {
                double ratio = sodium.NsPerAllocation / pool.NsPerAllocation;
                t.Add(new($"pool allocation ({size} B) at least 50x faster than sodium_malloc", $"sodium_malloc / pool time = {ratio:0}x", ratio, 50, ratio >= 50));
            }
        }

        if (Small("pmalloc pool", 64) is { } p64)
        {
            double ratio = p64.ResidentBytesPerObject / 64;
            t.Add(new("resident bytes for 100,000 x 64 B at most 1.2x the payload", $"{p64.ResidentBytesPerObject:0.0} B per 64 B object = {ratio:0.00}x", ratio, 1.2, ratio <= 1.2));
        }

        double Cost(string measure, string subject, int bytes) =>
            report.Costs.FirstOrDefault(c => c.Measure == measure && c.Subject == subject && c.Bytes == bytes)?.NsPerOperation ?? double.NaN;

        double lifecycle = Cost(BenchRunner.Lifecycle, BenchRunner.PoolSubject, 640), sodiumLifecycle = Cost(BenchRunner.Lifecycle, BenchRunner.SodiumSubject, 640);
        if (!double.IsNaN(lifecycle) && !double.IsNaN(sodiumLifecycle))
        {
            double ratio = lifecycle / sodiumLifecycle, floor = Cost(BenchRunner.Lifecycle, BenchRunner.PoolLifecycleReplaySubject, 640);
            string floorText = double.IsNaN(floor) ? "" : $" (its system calls alone {floor / 1000:0.0} µs = {floor / sodiumLifecycle:0.00}x)";
            t.Add(new("small-pool lifecycle at most 0.6x libsodium's", $"pool {lifecycle / 1000:0.0} µs / sodium {sodiumLifecycle / 1000:0.0} µs = {ratio:0.00}x{floorText}", ratio, 0.6, ratio <= 0.6));
        }

        double chunk = Cost(BenchRunner.ChunkCycle, BenchRunner.PoolSubject, CostSubjects.ChunkBytes), oldChunk = Cost(BenchRunner.ChunkCycle, BenchRunner.OldChunkSubject, CostSubjects.ChunkBytes);
        if (!double.IsNaN(chunk) && !double.IsNaN(oldChunk))
        {
            double ratio = chunk / oldChunk;
            t.Add(new("64 KiB chunk map+unmap (pool.Allocate + Free, the spare reused) at most 0.5x the memfd-per-chunk scheme", $"pool {chunk / 1000:0.0} µs / replayed old scheme {oldChunk / 1000:0.0} µs = {ratio:0.00}x", ratio, 0.5, ratio <= 0.5));
        }

        double newChunk = Cost(BenchRunner.ChunkCycle, BenchRunner.NewChunkSubject, CostSubjects.ChunkBytes);
        if (!double.IsNaN(newChunk) && !double.IsNaN(oldChunk))
        {
            double ratio = newChunk / oldChunk;
            t.Add(new("64 KiB chunk map+unmap, the system calls alone: pool memfd at most 0.5x memfd per chunk", $"replayed new {newChunk / 1000:0.0} µs / replayed old {oldChunk / 1000:0.0} µs = {ratio:0.00}x", ratio, 0.5, ratio <= 0.5));
        }

        foreach (int size in (int[])[16, 64])
        {
            double pool = Cost(BenchRunner.WarmAllocate, BenchRunner.PoolSubject, size), malloc = Cost(BenchRunner.WarmAllocate, BenchRunner.MallocSubject, size);
            if (!double.IsNaN(pool) && !double.IsNaN(malloc))
            {
                double ratio = pool / malloc;
                t.Add(new($"warm Allocate({size}) at most 0.5x a warm NativeMemory.Alloc", $"pool {pool:0.0} ns / malloc {malloc:0.0} ns = {ratio:0.00}x", ratio, 0.5, ratio <= 0.5));
            }
        }

        if (report.ChunkVmas is { GuardInstall: true } vmas)
        {
            t.Add(new("1 VMA per chunk where MADV_GUARD_INSTALL exists", $"{vmas.Vmas} VMAs for {vmas.Chunks} chunks = {vmas.VmasPerChunk:0.00}", vmas.VmasPerChunk, 1, vmas.VmasPerChunk <= 1));
        }

        if (report.Million is { } million)
        {
            t.Add(new("at most 64 mappings for 1,000,000 small allocations", $"{million.AllMappings} VMAs ({million.Chunks} chunks)", million.AllMappings, 64, million.AllMappings <= 64));
        }

        if (report.Protect.Count > 0)
        {
            ProtectResult worst = report.Protect.MaxBy(p => p.Ratio)!;
            t.Add(new("Protect within 1.5x of one mprotect of the same range", $"worst {worst.Ratio:0.00}x (at {worst.Bytes >> 20} MiB)", worst.Ratio, 1.5, worst.Ratio <= 1.5));
        }

        if (report.LookupScale is { } scale)
        {
            t.Add(new("CheckRead at the end of a 16 MiB allocation within 2x of a 16 B one", $"{scale.NsAtEndOfLarge:0.0} ns vs {scale.NsAtEndOfSmall:0.0} ns ({scale.SizeRatio:0.00}x)", scale.SizeRatio, 2, scale.SizeRatio <= 2));
            t.Add(new($"CheckRead over {scale.Pools:N0} pools within 2x of one pool of as many allocations", $"{scale.NsAcrossPools:0.0} ns vs {scale.NsInOnePool:0.0} ns ({scale.PoolsRatio:0.00}x)", scale.PoolsRatio, 2, scale.PoolsRatio <= 2));
        }

        if (report.CheckRead is { } check)
        {
            t.Add(new("CheckRead on a pool with a million live allocations under 50 ns", $"{check.NsPerCheckRead:0.0} ns (a plain copy of the bytes: {check.NsPerSpanCopy:0.0} ns)", check.NsPerCheckRead, 50, check.NsPerCheckRead < 50));
        }

        double WriteRare(int updates, string method) =>
            report.WriteRare.FirstOrDefault(w => w.Updates == updates && w.Method == method)?.NsPerOperation ?? double.NaN;
        // The write-rare issue's targets, each against the unsafe mprotect flip-flop doing the same stores, measured side by side.
        double flip = WriteRare(1, "mprotect flip-flop");
        void AgainstFlip(string target, double pool, double baseline, double limit, string what)
        {
            if (!double.IsNaN(pool) && !double.IsNaN(baseline))
            {
                double ratio = pool / baseline;
                t.Add(new(target, $"{what} / flip-flop time = {ratio:0.00}x ({pool / 1000:0.00} / {baseline / 1000:0.00} µs)", ratio, limit, ratio <= limit));
            }
        }

        AgainstFlip("one 8-byte write-rare Write at most 0.5x a 1-page mprotect flip-flop", WriteRare(1, "pool.Write (pwrite)"), flip, 0.5, "pool.Write");
        AgainstFlip("Publish (a round trip to the writer process) at most 5x a 1-page flip-flop", WriteRare(1, "pool.Publish (writer process)"), flip, 5, "pool.Publish");
        AgainstFlip("a batch of 100 8-byte writes to allocations of one 64 KiB chunk at most 2x the flip-flop of that chunk",
            WriteRare(WriteRareSubjects.BatchSize, "pool.BeginWrites batch"), WriteRare(WriteRareSubjects.BatchSize, "mprotect flip-flop"), 2, "batch");
        AgainstFlip("the same batch with the allocations spread over the whole chunk at most 2x its flip-flop",
            WriteRare(WriteRareSubjects.BatchSize, "pool.BeginWrites batch, spread over the chunk"), WriteRare(WriteRareSubjects.BatchSize, "mprotect flip-flop, spread over the chunk"), 2, "spread batch");

        // The protected table is ProtectedDictionary; the interim open-addressing table stands in where it is missing.
        LookupResult? pooled = report.Lookups.FirstOrDefault(l => l.Table == "ProtectedDictionary")
            ?? report.Lookups.FirstOrDefault(l => l.Store == "protected pool");
        LookupResult? frozenInt = report.Lookups.FirstOrDefault(l => l.Table == "FrozenDictionary");
        if (pooled is not null && frozenInt is not null)
        {
            double ratio = frozenInt.NsPerLookup / pooled.NsPerLookup;
            t.Add(new($"int lookups in a protected pool ({pooled.Table}) at least as fast as FrozenDictionary", $"FrozenDictionary / pool time = {ratio:0.00}x", ratio, 1, ratio >= 1));
        }

        CollectionBench.EvaluateTargets(report);

        if (report.FileIndex is { Variants: [var poolIndex, var dictionary, var frozen, ..] })
        {
            double speed = frozen.NsPerLookup / poolIndex.NsPerLookup;
            t.Add(new("file lookups in a protected pool at least as fast as FrozenDictionary", $"FrozenDictionary / pool time = {speed:0.00}x", speed, 1, speed >= 1));
            double size = (double)poolIndex.MemoryBytes / dictionary.MemoryBytes;
            t.Add(new("file index smaller than the Dictionary version", $"pool (resident + bitmaps) / Dictionary (GC heap) = {size:0.00}x", size, 1, size < 1));
            double heap = (double)poolIndex.GcHeapBytes / dictionary.GcHeapBytes;
            t.Add(new("file index not on the GC heap", $"pool GC heap = {poolIndex.GcHeapBytes} B ({heap:P1} of the Dictionary's)", heap, 0.01, heap <= 0.01));

            if (report.FileIndex.Variants.FirstOrDefault(v => v.Name.StartsWith("ProtectedDictionary", StringComparison.Ordinal)) is { } pd)
            {
                double pdSpeed = frozen.NsPerLookup / pd.NsPerLookup;
                t.Add(new("file lookups in a ProtectedDictionary at least as fast as FrozenDictionary", $"FrozenDictionary / ProtectedDictionary time = {pdSpeed:0.00}x", pdSpeed, 1, pdSpeed >= 1));
                double pdSize = (double)pd.MemoryBytes / dictionary.MemoryBytes;
                t.Add(new("file ProtectedDictionary smaller than the Dictionary version", $"ProtectedDictionary (resident + bitmaps) / Dictionary (GC heap) = {pdSize:0.00}x", pdSize, 1, pdSize < 1));
                double pdHeap = (double)pd.GcHeapBytes / dictionary.GcHeapBytes;
                t.Add(new("file ProtectedDictionary not on the GC heap", $"GC heap = {pd.GcHeapBytes} B ({pdHeap:P1} of the Dictionary's)", pdHeap, 0.01, pdHeap <= 0.01));
            }
        }
    }
}
