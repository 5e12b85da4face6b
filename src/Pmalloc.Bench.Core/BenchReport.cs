using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pmalloc.Bench;

/// <summary>Everything one <c>pmalloc bench</c> run measured, side by side in one process. Serialised as the <c>--json</c> output.</summary>
public sealed record BenchReport
{
    public required MachineInfo Machine { get; init; }

    public required bool Quick { get; init; }

    public required DateTime StartedUtc { get; init; }

    public double Seconds { get; set; }

    /// <summary>Allocators whose column could not be measured here, and why.</summary>
    public List<SkippedColumn> Skipped { get; } = [];

    public List<SmallAllocationResult> SmallAllocations { get; } = [];

    public MillionResult? Million { get; set; }

    /// <summary>What a pool costs the kernel and the CPU, next to its rivals (thread CPU time).</summary>
    public List<CostResult> Costs { get; } = [];

    /// <summary>The VMAs per chunk of a protected pool.</summary>
    public ChunkVmaResult? ChunkVmas { get; set; }

    public List<ProtectResult> Protect { get; } = [];

    public List<LookupResult> Lookups { get; } = [];

    public FileIndexResult? FileIndex { get; set; }

    /// <summary>Hardened usercopy on a pool with a million live allocations.</summary>
    public CheckReadResult? CheckRead { get; set; }

    public LookupScaleResult? LookupScale { get; set; }

    /// <summary>Write-rare updates against the mprotect flip-flop and libsodium.</summary>
    public List<WriteRareResult> WriteRare { get; } = [];

    /// <summary>The protected collections against FrozenDictionary and Dictionary: string lookups, builds, crafted keys.</summary>
    public CollectionResults? Collections { get; set; }

    /// <summary>The targets, each with the ratio measured in this run.</summary>
    public List<TargetResult> Targets { get; } = [];

    public string ToJson() => JsonSerializer.Serialize(this, BenchJsonContext.Default.BenchReport);
}

public sealed record MachineInfo(string Os, string Kernel, string Cpu, int Cores, long MemoryBytes, string Runtime, int PageSize)
{
    public static MachineInfo Current()
    {
        string cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal)) is { } line
            ? line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim()
            : "unknown";
        return new MachineInfo(
            System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            File.ReadAllText("/proc/sys/kernel/osrelease").Trim(),
            cpu,
            Environment.ProcessorCount,
            ProcessMemory.KiBFrom("/proc/meminfo", "MemTotal:") * 1024,
            System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            Environment.SystemPageSize);
    }
}

public sealed record SkippedColumn(string Allocator, string Reason);

/// <summary>One allocator, one object size.</summary>
/// <param name="NsPerAllocation">The allocation call alone.</param>
/// <param name="NsPerAllocationAndFill">The call plus writing every byte of the object (the first touch of fresh pages lands here for allocators that do not touch memory when allocating).</param>
/// <param name="MappedBytesPerObject">Growth of the process's virtual size (VmSize), per object.</param>
/// <param name="ResidentBytesPerObject">Growth of the process's resident set (smaps_rollup Rss), per object, after every object was written.</param>
/// <param name="MappingsPer1000Objects">Growth of the number of VMAs, per 1,000 objects, after protecting where the allocator can.</param>
/// <param name="NsPerObjectToProtect">Making all objects read-only, per object; null where the allocator cannot.</param>
public sealed record SmallAllocationResult(
    string Allocator, int Size, int Objects, double NsPerAllocation, double NsPerAllocationAndFill,
    double MappedBytesPerObject, double ResidentBytesPerObject, double MappingsPer1000Objects, double? NsPerObjectToProtect);

/// <summary>A million 16-byte allocations in one pool.</summary>
/// <param name="PoolMappings">Mappings named <c>/memfd:pmalloc:NAME</c> in smaps (the chunks).</param>
/// <param name="AllMappings">Growth of the process's VMA count (chunks plus their guard pages).</param>
public sealed record MillionResult(int Objects, int Chunks, int PoolMappings, int AllMappings, double NsPerAllocation, long MappedBytes, long ResidentBytes);

/// <summary>One subject of one cost measure, in ns of thread CPU time per operation (median of interleaved rounds).</summary>
/// <param name="Measure">What is measured: a small pool's lifecycle, a 64 KiB chunk's map and unmap, a warm allocation.</param>
/// <param name="Subject">Who does it: the pool, or its rival.</param>
/// <param name="Bytes">The payload: 640 for a lifecycle, the chunk's bytes, the allocation's size.</param>
public sealed record CostResult(string Measure, string Subject, int Bytes, double NsPerOperation);

/// <summary>A protected pool of <paramref name="Chunks"/> chunks and the VMAs they take, guard pages included.</summary>
public sealed record ChunkVmaResult(int Chunks, int Vmas, double VmasPerChunk, bool GuardInstall);

/// <summary><c>Protect</c> of a pool holding <paramref name="Bytes"/> against one <c>mprotect</c> of one mapping of the same length, same pages touched.</summary>
public sealed record ProtectResult(long Bytes, long MappedBytes, int Chunks, double PoolProtectUs, double MprotectUs, double Ratio);

/// <summary>Lookups in one kind of table; ns per lookup, half hits and half misses.</summary>
public sealed record LookupResult(string Table, string Store, int Entries, double NsPerLookup);

public sealed record FileIndexResult(string Root, int Entries, List<FileIndexVariant> Variants);

/// <summary>One way to hold the file index.</summary>
/// <param name="MemoryBytes">What the index occupies: for a pool, the resident bytes of its own mappings (smaps) plus the
/// allocator's bitmaps off the pool, as malloc allocated them (mallinfo2; pages never touched count too); for a managed table, the growth of the GC heap (live bytes after a full collection).</param>
/// <param name="GcHeapBytes">Growth of the GC heap (GC.GetTotalMemory after a full collection) while the index is alive.</param>
public sealed record FileIndexVariant(string Name, double BuildMs, long MemoryBytes, long GcHeapBytes, double NsPerLookup);

/// <summary>One write-rare operation: <paramref name="Updates"/> longs written into protected memory, by <paramref name="Method"/>.</summary>
public sealed record WriteRareResult(int Updates, string Method, double NsPerOperation);

/// <summary><c>ProtectedMemory.CheckRead</c> of one 16-byte allocation among <paramref name="LiveAllocations"/>, next to a plain copy of the same bytes and the pool's checked copy-out.</summary>
public sealed record CheckReadResult(int LiveAllocations, int Bytes, double NsPerCheckRead, double NsPerSpanCopy, double NsPerPoolRead);

/// <summary>One target of the issue, with the figure measured in this run.</summary>
public sealed record TargetResult(string Target, string Measured, double Value, double Limit, bool Met);

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(BenchReport))]
internal sealed partial class BenchJsonContext : JsonSerializerContext;

/// <summary>CheckRead of 8 bytes at the end of a large and of a small allocation, and random checks over many pools and over one pool of as many allocations; ns per check.</summary>
public sealed record LookupScaleResult(long LargeBytes, int SmallBytes, double NsAtEndOfLarge, double NsAtEndOfSmall, int Pools, double NsAcrossPools, double NsInOnePool)
{
    public double SizeRatio => NsAtEndOfLarge / NsAtEndOfSmall;

    public double PoolsRatio => NsAcrossPools / NsInOnePool;
}
