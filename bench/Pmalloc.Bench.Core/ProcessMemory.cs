using System.Globalization;

namespace Pmalloc.Bench;

/// <summary>A reading of this process's memory from <c>/proc/self</c>.</summary>
/// <param name="MappedBytes">Virtual size of every mapping (<c>VmSize</c> in <c>/proc/self/status</c>).</param>
/// <param name="ResidentBytes">Pages in RAM, anonymous, file and shared (memfd) alike (<c>Rss</c> in <c>/proc/self/smaps_rollup</c>, exact).</param>
/// <param name="Mappings">The number of mappings (VMAs): lines of <c>/proc/self/maps</c>.</param>
public readonly record struct MemoryReading(long MappedBytes, long ResidentBytes, int Mappings)
{
    /// <summary>Reads the three figures now.</summary>
    public static MemoryReading Now() => new(ProcessMemory.StatusKiB("VmSize:") * 1024, ProcessMemory.RollupKiB("Rss:") * 1024, ProcessMemory.CountMappings());

    public static MemoryReading operator -(MemoryReading after, MemoryReading before) =>
        new(after.MappedBytes - before.MappedBytes, after.ResidentBytes - before.ResidentBytes, after.Mappings - before.Mappings);
}

/// <summary>Readers of <c>/proc/self</c>: how big this process is, and how big a pool's own mappings are.</summary>
public static class ProcessMemory
{
    /// <summary>A "Key: N kB" line of <c>/proc/self/status</c>, in KiB.</summary>
    public static long StatusKiB(string key) => KiBFrom("/proc/self/status", key);

    /// <summary>A "Key: N kB" line of <c>/proc/self/smaps_rollup</c> (all mappings summed by the kernel), in KiB.</summary>
    public static long RollupKiB(string key) => KiBFrom("/proc/self/smaps_rollup", key);

    /// <summary>The number of mappings (VMAs) of this process.</summary>
    public static int CountMappings() => File.ReadLines("/proc/self/maps").Count();

    /// <summary>
    /// Sums <c>Size</c> and <c>Rss</c> over the mappings named <c>/memfd:pmalloc:NAME</c> in <c>/proc/self/smaps</c>:
    /// a pool's own usable memory, exactly (guard pages and the off-pool bitmaps are not in it).
    /// </summary>
    public static (long MappedBytes, long ResidentBytes, int Mappings) PoolMappings(string poolName)
    {
        string name = "/memfd:" + OsMemory.MemfdPrefix + poolName;
        long size = 0, rss = 0;
        int mappings = 0;
        bool inPool = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            if (IsHeader(line))
            {
                // A header line: "start-end perms offset dev inode path"; the path may end in " (deleted)".
                inPool = line.Contains(name + " ", StringComparison.Ordinal) || line.EndsWith(name, StringComparison.Ordinal);
                mappings += inPool ? 1 : 0;
            }
            else if (inPool && line.StartsWith("Size:", StringComparison.Ordinal))
            {
                size += ParseKiB(line) * 1024;
            }
            else if (inPool && line.StartsWith("Rss:", StringComparison.Ordinal))
            {
                rss += ParseKiB(line) * 1024;
            }
        }

        return (size, rss, mappings);
    }

    /// <summary>
    /// The resident bytes of the allocator's own bookkeeping for <paramref name="pool"/>, off the pool: the two bitmaps
    /// up to each chunk's high-water mark (every allocation writes its bits), and the pages of the per-granule padding
    /// array that hold an allocation's first granule (only those are written; the rest was allocated zeroed and never touched).
    /// </summary>
    public static long PoolMetadataBytes(ProtectablePool pool)
    {
        long bytes = 0;
        foreach (Chunk chunk in pool.Chunks)
        {
            bytes += ((chunk.HighWater + 63L) / 64) * 2 * sizeof(ulong);
            int paddingBytes = chunk.GranuleShift > 8 ? 2 : 1;
            long lastPage = -1;
            for (int g = 0; g < chunk.HighWater; g++)
            {
                long page = (long)g * paddingBytes / Environment.SystemPageSize;
                if (page != lastPage && chunk.IsStart(g))
                {
                    bytes += Math.Min(Environment.SystemPageSize, (long)chunk.GranuleCount * paddingBytes);
                    lastPage = page;
                }
            }
        }

        return bytes;
    }

    /// <summary>Is this smaps line a mapping header ("7f..-7f.. rw-s ...") rather than a "Key: value" line?</summary>
    private static bool IsHeader(string line)
    {
        int space = line.IndexOf(' ', StringComparison.Ordinal);
        return space > 0 && line.AsSpan(0, space).Contains('-') && !line.AsSpan(0, space).Contains(':');
    }

    /// <summary>A "Key: N kB" line of any such file, in KiB.</summary>
    public static long KiBFrom(string file, string key)
    {
        foreach (string line in File.ReadLines(file))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
            {
                return ParseKiB(line);
            }
        }

        throw new InvalidOperationException($"no '{key}' line in {file}");
    }

    private static long ParseKiB(string line)
    {
        // "Rss:                1234 kB"
        ReadOnlySpan<char> rest = line.AsSpan(line.IndexOf(':', StringComparison.Ordinal) + 1).Trim();
        int space = rest.IndexOf(' ');
        return long.Parse(space < 0 ? rest : rest[..space], NumberStyles.None, CultureInfo.InvariantCulture);
    }
}
