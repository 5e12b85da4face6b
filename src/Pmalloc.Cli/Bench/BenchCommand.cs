using System.Diagnostics;
using System.Globalization;
using Pmalloc.Bench;
using Spectre.Console;

namespace Pmalloc.Cli.Bench;

/// <summary>
/// <c>pmalloc bench [--quick] [--costs] [--collections] [--json [FILE]]</c>: the pool against the alternatives, side by
/// side in one run, as tables with ratios. <c>--json</c> writes the figures as JSON to stdout (the tables then go to
/// stderr), or to FILE (the tables stay on stdout). <c>--costs</c> measures only what a pool costs (lifecycle, chunk
/// map+unmap, warm fast path, VMAs, resident bytes, a million allocations); <c>--collections</c> only the protected
/// collections (string lookups, builds, crafted keys). The measurements live in <c>src/Pmalloc.Bench.Core</c>,
/// shared with the BenchmarkDotNet project.
/// </summary>
internal static class BenchCommand
{
    internal static int Run(string[] args)
    {
        bool quick = false, json = false, costs = false, collections = false;
        string? jsonFile = null;
        string root = "/usr";
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick":
                    quick = true;
                    break;
                case "--costs":
                    costs = true;
                    break;
                case "--collections":
                    collections = true;
                    break;
                case "--json":
                    json = true;
                    if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
                    {
                        jsonFile = args[++i];
                    }

                    break;
                case "--root" when i + 1 < args.Length:
                    root = args[++i];
                    break;
                default:
                    throw new CliUsageException($"unknown option '{args[i]}'");
            }
        }

        if (!Directory.Exists(root))
        {
            throw new CliUsageException($"no directory '{root}' to index");
        }

        if (Environment.GetEnvironmentVariable(TieredCompilationVariable) != "0")
        {
            return RunWithoutTiering(args);
        }

        // Progress always goes to stderr; the tables go where the JSON does not.
        IAnsiConsole err = MakeConsole(System.Console.Error, System.Console.IsErrorRedirected);
        IAnsiConsole tables = json && jsonFile is null ? err : MakeConsole(System.Console.Out, System.Console.IsOutputRedirected);
        BenchReport report = BenchRunner.Run(new BenchSettings(quick, root, costs) { CollectionsOnly = collections }, line => err.MarkupLineInterpolated($"[grey]{line}[/]"));

        Print(tables, report);
        if (json)
        {
            if (jsonFile is null)
            {
                System.Console.Out.WriteLine(report.ToJson());
            }
            else
            {
                File.WriteAllText(jsonFile, report.ToJson());
                tables.MarkupLineInterpolated($"JSON written to [green]{jsonFile}[/].");
            }
        }

        return 0;
    }

    private const string TieredCompilationVariable = "DOTNET_TieredCompilation";

    /// <summary>
    /// Runs this verb again in a child with tiered compilation off, passing the console through. Stopwatch loops
    /// must time fully optimised code from the first call, not tier-0 code waiting to be recompiled (BenchmarkDotNet
    /// gets the same by running each benchmark in a process of its own, after warm-up).
    /// </summary>
    private static int RunWithoutTiering(string[] args)
    {
        ProcessStartInfo info = ChildProcess.StartInfo(["bench", .. args]);
        info.Environment[TieredCompilationVariable] = "0";
        using Process child = Process.Start(info) ?? throw new InvalidOperationException("cannot start pmalloc bench");
        child.WaitForExit();
        return child.ExitCode;
    }

    /// <summary>A console on <paramref name="writer"/>, wide enough for the tables (unwrapped when redirected, see <see cref="Terminal"/>).</summary>
    private static IAnsiConsole MakeConsole(TextWriter writer, bool redirected)
    {
        IAnsiConsole console = Terminal.Create(writer, redirected);
        console.Profile.Width = Math.Max(console.Profile.Width, 150);
        return console;
    }

    private static void Print(IAnsiConsole console, BenchReport report)
    {
        MachineInfo m = report.Machine;
        console.MarkupLineInterpolated($"[bold]pmalloc bench[/]{(report.Quick ? " --quick" : "")}: {m.Cpu}, {m.Cores} cores, {m.MemoryBytes >> 30} GiB, Linux {m.Kernel}, {m.Runtime}; {report.Seconds:0.0} s");
        foreach (SkippedColumn s in report.Skipped)
        {
            console.MarkupLineInterpolated($"[yellow]skipped {s.Allocator}:[/] {s.Reason}");
        }

        Table small = NewTable("Small allocations", "allocator", "size", "objects", "ns/alloc", "vs pool", "ns/alloc+fill", "mapped B/obj", "resident B/obj", "VMAs/1000", "ns/obj protect");
        foreach (SmallAllocationResult r in report.SmallAllocations)
        {
            double pool = report.SmallAllocations.First(p => p.Allocator == "pmalloc pool" && p.Size == r.Size).NsPerAllocation;
            small.AddRow(r.Allocator, F(r.Size), F(r.Objects), F(r.NsPerAllocation, "0.0"), F(r.NsPerAllocation / pool, "0.00") + "x",
                F(r.NsPerAllocationAndFill, "0.0"), F(r.MappedBytesPerObject, "0.0"), F(r.ResidentBytesPerObject, "0.0"),
                F(r.MappingsPer1000Objects, "0.0"), r.NsPerObjectToProtect is { } p ? F(p, "0.0") : "-");
        }

        console.Write(small);

        if (report.Costs.Count > 0)
        {
            Table costs = NewTable("What a pool costs (thread CPU time, median of interleaved rounds)", "measure", "bytes", "subject", "ns/op", "vs pool");
            foreach (CostResult cost in report.Costs)
            {
                double pool = report.Costs.FirstOrDefault(p => p.Measure == cost.Measure && p.Bytes == cost.Bytes && p.Subject == BenchRunner.PoolSubject)?.NsPerOperation ?? double.NaN;
                costs.AddRow(Markup.Escape(cost.Measure), F(cost.Bytes), Markup.Escape(cost.Subject), F(cost.NsPerOperation, "#,0.0"), F(cost.NsPerOperation / pool, "0.00") + "x");
            }

            console.Write(costs);
        }

        if (report.ChunkVmas is { } vmas)
        {
            console.MarkupLineInterpolated($"VMAs of a protected pool: [green]{vmas.Vmas}[/] for {vmas.Chunks} chunks, guard pages included ({vmas.VmasPerChunk:0.00} per chunk; MADV_GUARD_INSTALL {(vmas.GuardInstall ? "found" : "missing")}).");
        }

        if (report.Million is { } million)
        {
            console.MarkupLineInterpolated($"1,000,000 x 16 B in one pool: [green]{million.Chunks}[/] chunks, {million.PoolMappings} pool mappings, {million.AllMappings} new VMAs in all (guard pages included), {million.NsPerAllocation:0.0} ns/alloc, {million.ResidentBytes >> 20} MiB resident of {million.MappedBytes >> 20} MiB mapped.");
        }

        Table protect = NewTable("Protect vs one mprotect of the same range (pages written)", "pool bytes", "chunks", "Protect µs", "mprotect µs", "ratio");
        foreach (ProtectResult r in report.Protect)
        {
            protect.AddRow($"{r.Bytes >> 20} MiB", F(r.Chunks), F(r.PoolProtectUs, "0.0"), F(r.MprotectUs, "0.0"), F(r.Ratio, "0.00") + "x");
        }

        console.Write(protect);

        if (report.LookupScale is { } scale)
        {
            console.MarkupLineInterpolated($"CheckRead of 8 bytes at the end of a {scale.LargeBytes >> 20} MiB allocation [green]{scale.NsAtEndOfLarge:0.0} ns[/], of a {scale.SmallBytes} B one {scale.NsAtEndOfSmall:0.0} ns ({scale.SizeRatio:0.00}x); over {scale.Pools:N0} pools [green]{scale.NsAcrossPools:0.0} ns[/], in one pool of {scale.Pools:N0} allocations {scale.NsInOnePool:0.0} ns ({scale.PoolsRatio:0.00}x).");
        }

        if (report.CheckRead is { } check)
        {
            console.MarkupLineInterpolated($"Usercopy on a pool with {check.LiveAllocations:N0} live allocations, {check.Bytes} B each: ProtectedMemory.CheckRead [green]{check.NsPerCheckRead:0.0} ns[/], a plain Span copy {check.NsPerSpanCopy:0.0} ns, pool.Read (checked copy) {check.NsPerPoolRead:0.0} ns.");
        }

        if (report.WriteRare.Count > 0)
        {
            // Against the unsafe mprotect flip-flop doing the same stores (a spread batch against the spread flip-flop).
            Table writes = NewTable("Write-rare updates into protected memory (median of rounds, side by side)", "updates", "method", "ns/operation", "vs flip-flop");
            foreach (WriteRareResult r in report.WriteRare)
            {
                string baseline = r.Method.EndsWith(", spread over the chunk", StringComparison.Ordinal) ? "mprotect flip-flop, spread over the chunk" : "mprotect flip-flop";
                double flip = report.WriteRare.FirstOrDefault(w => w.Updates == r.Updates && w.Method == baseline)?.NsPerOperation ?? double.NaN;
                writes.AddRow(F(r.Updates), Markup.Escape(r.Method), F(r.NsPerOperation, "#,0.0"), F(r.NsPerOperation / flip, "0.00") + "x");
            }

            console.Write(writes);
        }

        Table lookups = NewTable("Lookups, half hits half misses", "table", "store", "entries", "ns/lookup", "vs pool");
        double pooled = report.Lookups.FirstOrDefault(l => l.Store == "protected pool")?.NsPerLookup ?? double.NaN;
        foreach (LookupResult r in report.Lookups)
        {
            lookups.AddRow(r.Table, r.Store, F(r.Entries), F(r.NsPerLookup, "0.0"), F(r.NsPerLookup / pooled, "0.00") + "x");
        }

        console.Write(lookups);

        if (report.FileIndex is { } files)
        {
            Table index = NewTable($"File index: {files.Entries} files under {files.Root}", "index", "build ms", "memory MiB", "vs pool", "GC heap MiB", "ns/lookup", "vs pool");
            FileIndexVariant pool = files.Variants[0];
            foreach (FileIndexVariant v in files.Variants)
            {
                index.AddRow(Markup.Escape(v.Name), F(v.BuildMs, "0.0"), F(v.MemoryBytes / 1048576.0, "0.00"), F((double)v.MemoryBytes / pool.MemoryBytes, "0.00") + "x",
                    F(v.GcHeapBytes / 1048576.0, "0.00"), F(v.NsPerLookup, "0.0"), F(v.NsPerLookup / pool.NsPerLookup, "0.00") + "x");
            }

            index.Caption("memory: a pool's resident pages (smaps) plus its bitmaps (as malloc allocated them); a managed table's GC heap growth");

            console.Write(index);
        }

        if (report.Collections is { } c)
        {
            PrintCollections(console, c);
        }

        Table targets = NewTable("Targets", "target", "measured", "met");
        foreach (TargetResult t in report.Targets)
        {
            targets.AddRow(Markup.Escape(t.Target), Markup.Escape(t.Measured), t.Met ? "[green]yes[/]" : "[red]no[/]");
        }

        console.Write(targets);
    }

    private static void PrintCollections(IAnsiConsole console, CollectionResults c)
    {
        Table lookups = NewTable("Protected collections: string lookups (int values; copies of the keys, half misses; thread CPU time, median round)", "keys", "entries", "table", "ns/lookup", "vs FrozenDictionary");
        foreach (StringLookupResult r in c.StringLookups)
        {
            double frozen = c.StringLookups.First(f => f.Shape == r.Shape && f.Entries == r.Entries && f.Table == CollectionBench.Frozen).NsPerLookup;
            lookups.AddRow(r.Shape, F(r.Entries), Markup.Escape(r.Table), F(r.NsPerLookup, "0.0"), F(r.NsPerLookup / frozen, "0.00") + "x");
        }

        console.Write(lookups);
        Table builds = NewTable("Protected collections: building from a Dictionary (thread CPU time, median round)", "keys", "entries", "builder", "µs/build", "vs ToFrozenDictionary");
        foreach (BuildResult r in c.Builds)
        {
            double frozen = c.Builds.First(f => f.KeyType == r.KeyType && f.Entries == r.Entries && f.Builder == "ToFrozenDictionary").MicrosecondsPerBuild;
            builds.AddRow(r.KeyType, F(r.Entries), r.Builder, F(r.MicrosecondsPerBuild, "#,0.0"), F(r.MicrosecondsPerBuild / frozen, "0.00") + "x");
        }

        console.Write(builds);
        if (c.Flood is { } f)
        {
            console.MarkupLineInterpolated($"{f.Keys:N0} keys of {f.KeyLength} characters crafted to collide in the string hash: ProtectedDictionary [green]{f.NsCrafted:0.0} ns[/] per lookup against {f.NsRandom:0.0} ns for random keys of the same shape ({f.NsCrafted / f.NsRandom:0.00}x; built in {f.BuildCraftedMs:0.0} ms against {f.BuildRandomMs:0.0} ms); FrozenDictionary {f.NsFrozenCrafted:0.0} / {f.NsFrozenRandom:0.0} ns, Dictionary {f.NsDictionaryCrafted:0.0} / {f.NsDictionaryRandom:0.0} ns.");
        }
    }

    private static Table NewTable(string title, params string[] columns)
    {
        Table table = new Table().Title(title).Border(TableBorder.Simple);
        foreach (string c in columns)
        {
            table.AddColumn(new TableColumn(c).RightAligned());
        }

        table.Columns[0].LeftAligned();
        return table;
    }

    private static string F(double value, string format = "#,0") => Markup.Escape(value.ToString(format, CultureInfo.InvariantCulture));
}
