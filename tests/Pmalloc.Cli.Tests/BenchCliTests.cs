using System.Text.Json;
using Pmalloc.Cli;

namespace Pmalloc.Cli.Tests;

/// <summary>
/// <c>pmalloc bench --quick --json</c> as a child: the JSON a user feeds to a script or a chart has every
/// measure, each with a positive figure. Structure only: speed is never asserted in a test.
/// </summary>
public sealed class BenchCliTests
{
    private static readonly string[] Allocators = ["pmalloc pool", "NativeMemory.Alloc", "sodium_malloc", "OpenSSL secure heap", "mmap page per object"];

    [Fact]
    public void Quick_json_has_every_measure_with_positive_figures()
    {
        ChildResult result = Child.Pmalloc(["bench", "--quick", "--json"]);
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\n{result.StandardError}");
        using JsonDocument doc = JsonDocument.Parse(result.StandardOutput);
        JsonElement root = doc.RootElement;

        Assert.True(root.GetProperty("quick").GetBoolean());
        Assert.True(root.GetProperty("machine").GetProperty("cores").GetInt32() > 0);

        // Every allocator is measured at every size, or skipped with a reason (libsodium may be missing on a fresh machine).
        HashSet<string> skipped = [];
        foreach (JsonElement s in root.GetProperty("skipped").EnumerateArray())
        {
            Assert.False(string.IsNullOrWhiteSpace(s.GetProperty("reason").GetString()));
            skipped.Add(s.GetProperty("allocator").GetString()!);
        }

        Assert.DoesNotContain("pmalloc pool", skipped);
        Assert.DoesNotContain("NativeMemory.Alloc", skipped);
        JsonElement[] small = [.. root.GetProperty("smallAllocations").EnumerateArray()];
        foreach (string allocator in Allocators.Where(a => !skipped.Contains(a)))
        {
            foreach (int size in new[] { 16, 64, 256 })
            {
                JsonElement r = Assert.Single(small, e => e.GetProperty("allocator").GetString() == allocator && e.GetProperty("size").GetInt32() == size);
                Assert.True(r.GetProperty("objects").GetInt32() >= 10_000);
                Positive(r, "nsPerAllocation", "nsPerAllocationAndFill", "residentBytesPerObject");

                // malloc may serve a run from heap it mapped earlier (trimmed, not unmapped): no new address space.
                Assert.True(r.GetProperty("mappedBytesPerObject").GetDouble() >= (allocator == "NativeMemory.Alloc" ? 0 : 1));
                Assert.True(r.GetProperty("mappingsPer1000Objects").GetDouble() >= 0);
                JsonElement protect = r.GetProperty("nsPerObjectToProtect");
                bool canProtect = allocator is not ("NativeMemory.Alloc" or "OpenSSL secure heap");
                Assert.Equal(canProtect ? JsonValueKind.Number : JsonValueKind.Null, protect.ValueKind);
                Assert.True(!canProtect || protect.GetDouble() > 0);
            }
        }

        // A pool's chunks are exactly the mappings named after it in /proc/self/smaps.
        JsonElement million = root.GetProperty("million");
        Assert.Equal(1_000_000, million.GetProperty("objects").GetInt32());
        Assert.Equal(million.GetProperty("chunks").GetInt32(), million.GetProperty("poolMappings").GetInt32());
        Assert.True(million.GetProperty("allMappings").GetInt32() >= million.GetProperty("poolMappings").GetInt32());
        Positive(million, "chunks", "nsPerAllocation", "mappedBytes", "residentBytes");

        JsonElement[] protects = [.. root.GetProperty("protect").EnumerateArray()];
        Assert.Equal([1L << 20, 16L << 20, 64L << 20], protects.Select(p => p.GetProperty("bytes").GetInt64()));
        foreach (JsonElement p in protects)
        {
            Positive(p, "mappedBytes", "chunks", "poolProtectUs", "mprotectUs", "ratio");
            Assert.True(p.GetProperty("mappedBytes").GetInt64() >= p.GetProperty("bytes").GetInt64());
        }

        JsonElement[] lookups = [.. root.GetProperty("lookups").EnumerateArray()];
        Assert.Contains(lookups, l => l.GetProperty("store").GetString() == "protected pool");
        Assert.Contains(lookups, l => l.GetProperty("table").GetString() == "FrozenDictionary");
        Assert.Contains(lookups, l => l.GetProperty("table").GetString() == "ProtectedDictionary");
        Assert.All(lookups, l => Positive(l, "entries", "nsPerLookup"));

        JsonElement check = root.GetProperty("checkRead");
        Assert.Equal(1_000_000, check.GetProperty("liveAllocations").GetInt32());
        Positive(check, "bytes", "nsPerCheckRead", "nsPerSpanCopy", "nsPerPoolRead");

        // Write-rare: one update and a batch, by the pool and by the mprotect flip-flop baseline at least.
        JsonElement[] writes = [.. root.GetProperty("writeRare").EnumerateArray()];
        foreach (int updates in new[] { 1, 100 })
        {
            Assert.Contains(writes, w => w.GetProperty("updates").GetInt32() == updates && w.GetProperty("method").GetString() == "mprotect flip-flop");
            Assert.Contains(writes, w => w.GetProperty("updates").GetInt32() == updates && w.GetProperty("method").GetString()!.StartsWith("pool.", StringComparison.Ordinal));
        }

        Assert.All(writes, w => Positive(w, "nsPerOperation"));

        JsonElement files = root.GetProperty("fileIndex");
        Assert.True(files.GetProperty("entries").GetInt32() > 0);
        JsonElement[] variants = [.. files.GetProperty("variants").EnumerateArray()];
        Assert.Equal(4, variants.Length);
        Assert.StartsWith("ProtectedDictionary", variants[3].GetProperty("name").GetString(), StringComparison.Ordinal);
        Assert.All(variants, v => Positive(v, "buildMs", "memoryBytes", "nsPerLookup"));

        // The pooled indexes keep nothing on the GC heap; the Dictionary keeps everything there.
        long dictionaryHeap = variants[1].GetProperty("gcHeapBytes").GetInt64();
        Assert.True(dictionaryHeap > 0);
        Assert.True(variants[0].GetProperty("gcHeapBytes").GetInt64() < dictionaryHeap / 10, "the pooled file index should not live on the GC heap");
        Assert.True(variants[3].GetProperty("gcHeapBytes").GetInt64() < dictionaryHeap / 10, "the ProtectedDictionary should not live on the GC heap");

        JsonElement[] targets = [.. root.GetProperty("targets").EnumerateArray()];
        Assert.True(targets.Length >= 8);
        Assert.All(targets, t => Assert.False(string.IsNullOrWhiteSpace(t.GetProperty("measured").GetString())));
    }

    [Fact]
    public void Unknown_option_is_a_usage_error()
    {
        ChildResult result = Child.Pmalloc(["bench", "--fast"]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("pmalloc bench: unknown option '--fast'", result.StandardError, StringComparison.Ordinal);
        Assert.Equal("", result.StandardOutput);
    }

    private static void Positive(JsonElement element, params string[] names)
    {
        foreach (string name in names)
        {
            Assert.True(element.GetProperty(name).GetDouble() > 0, $"{name} = {element.GetProperty(name)} in {element}");
        }
    }
}
