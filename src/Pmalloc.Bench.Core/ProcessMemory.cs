using System.Buffers.Text;
using System.Text;
using Microsoft.Win32.SafeHandles;

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
/// <remarks>
/// The files are read into one reused buffer and parsed as bytes: a reading allocates (almost) nothing on the GC
/// heap, so it does not dirty fresh GC pages and show up in the very resident-set growth it measures.
/// Not thread-safe (one buffer).
/// </remarks>
public static class ProcessMemory
{
    /// <summary>How the kernel names a pool's chunk in /proc: the memfd name is <c>pmalloc:</c> and the pool's name (documented in the README).</summary>
    public const string PoolMappingPrefix = "/memfd:pmalloc:";

    private static readonly byte[] s_buffer = new byte[8 << 20];

    /// <summary>A "Key: N kB" line of <c>/proc/self/status</c>, in KiB.</summary>
    public static long StatusKiB(string key) => KiBFrom("/proc/self/status", key);

    /// <summary>A "Key: N kB" line of <c>/proc/self/smaps_rollup</c> (all mappings summed by the kernel), in KiB.</summary>
    public static long RollupKiB(string key) => KiBFrom("/proc/self/smaps_rollup", key);

    /// <summary>The number of mappings (VMAs) of this process.</summary>
    public static int CountMappings() => Read("/proc/self/maps").Count((byte)'\n');

    /// <summary>A "Key: N kB" line of any such file, in KiB.</summary>
    public static long KiBFrom(string file, string key)
    {
        ReadOnlySpan<byte> text = Read(file);
        Span<byte> needle = stackalloc byte[key.Length + 1];
        needle[0] = (byte)'\n';
        Encoding.ASCII.GetBytes(key, needle[1..]);
        int at = text.StartsWith(needle[1..]) ? 0 : text.IndexOf(needle) + 1;
        if (at < 0 || (at == 0 && !text.StartsWith(needle[1..])))
        {
            throw new InvalidOperationException($"no '{key}' line in {file}");
        }

        return ParseKiB(text[(at + key.Length)..]);
    }

    /// <summary>
    /// Sums <c>Size</c> and <c>Rss</c> over the mappings named <c>/memfd:pmalloc:NAME</c> in <c>/proc/self/smaps</c>:
    /// a pool's own usable memory, exactly (guard pages and the off-pool bitmaps are not in it).
    /// </summary>
    public static (long MappedBytes, long ResidentBytes, int Mappings) PoolMappings(string poolName)
    {
        byte[] name = Encoding.UTF8.GetBytes(PoolMappingPrefix + poolName);
        long size = 0, rss = 0;
        int mappings = 0;
        bool inPool = false;
        ReadOnlySpan<byte> text = Read("/proc/self/smaps");
        while (!text.IsEmpty)
        {
            int end = text.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = end < 0 ? text : text[..end];
            text = end < 0 ? default : text[(end + 1)..];
            if (IsHeader(line))
            {
                // "start-end perms offset dev inode path", the path maybe followed by " (deleted)".
                int at = line.IndexOf(name);
                inPool = at >= 0 && (at + name.Length == line.Length || line[at + name.Length] == (byte)' ');
                mappings += inPool ? 1 : 0;
            }
            else if (inPool && line.StartsWith("Size:"u8))
            {
                size += ParseKiB(line[5..]) * 1024;
            }
            else if (inPool && line.StartsWith("Rss:"u8))
            {
                rss += ParseKiB(line[4..]) * 1024;
            }
        }

        return (size, rss, mappings);
    }

    /// <summary>
    /// The VMAs a pool's chunks take: the mappings named <c>/memfd:pmalloc:NAME</c> in <c>/proc/self/maps</c>, plus the
    /// inaccessible anonymous mappings (<c>---p</c>) right next to one of them, the guard pages of a reservation. Guard pages
    /// made by <c>MADV_GUARD_INSTALL</c> are inside the chunk's own VMA (its end pages carry bit 58 in
    /// <c>/proc/self/pagemap</c>, Linux 6.14+) and add none; a <c>---p</c> neighbour of such a chunk is someone else's.
    /// </summary>
    public static int PoolVmas(string poolName)
    {
        byte[] name = Encoding.UTF8.GetBytes(PoolMappingPrefix + poolName);
        List<(ulong Start, ulong End, bool Named, bool Guard)> maps = [];
        ReadOnlySpan<byte> text = Read("/proc/self/maps");
        while (!text.IsEmpty)
        {
            int end = text.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = end < 0 ? text : text[..end];
            text = end < 0 ? default : text[(end + 1)..];
            int dash = line.IndexOf((byte)'-'), space = line.IndexOf((byte)' ');
            if (dash <= 0 || space <= dash
                || !Utf8Parser.TryParse(line[..dash], out ulong from, out _, 'x')
                || !Utf8Parser.TryParse(line[(dash + 1)..space], out ulong to, out _, 'x'))
            {
                continue;
            }

            int at = line.IndexOf(name);
            bool named = at >= 0 && (at + name.Length == line.Length || line[at + name.Length] == (byte)' ');
            bool anonymousNone = line[(space + 1)..].StartsWith("---p"u8) && line.TrimEnd(" "u8).EndsWith(" 0"u8);
            maps.Add((from, to, named, anonymousNone));
        }

        // A chunk whose end page is an installed guard region (pagemap bit 58) needs no neighbour; else the PROT_NONE
        // mapping next to it is its guard, and counts.
        using SafeFileHandle pagemap = File.OpenHandle("/proc/self/pagemap");
        bool InstalledGuard(ulong page)
        {
            Span<byte> entry = stackalloc byte[8];
            return RandomAccess.Read(pagemap, entry, (long)(page / (ulong)Environment.SystemPageSize * 8)) == 8
                && (BitConverter.ToUInt64(entry) & (1UL << 58)) != 0;
        }

        int vmas = 0;
        for (int i = 0; i < maps.Count; i++)
        {
            bool guard = maps[i].Guard
                && ((i > 0 && maps[i - 1].Named && maps[i - 1].End == maps[i].Start && !InstalledGuard(maps[i - 1].End - (ulong)Environment.SystemPageSize))
                    || (i + 1 < maps.Count && maps[i + 1].Named && maps[i + 1].Start == maps[i].End && !InstalledGuard(maps[i + 1].Start)));
            vmas += maps[i].Named || guard ? 1 : 0;
        }

        return vmas;
    }

    /// <summary>Is this smaps line a mapping header ("7f..-7f.. rw-s ...") rather than a "Key: value" line?</summary>
    private static bool IsHeader(ReadOnlySpan<byte> line)
    {
        int space = line.IndexOf((byte)' ');
        return space > 0 && line[..space].Contains((byte)'-') && !line[..space].Contains((byte)':');
    }

    /// <summary>The number at the start of "   1234 kB".</summary>
    private static long ParseKiB(ReadOnlySpan<byte> rest)
    {
        rest = rest.TrimStart(" \t:"u8);
        return Utf8Parser.TryParse(rest, out long value, out _) ? value : throw new FormatException("not a number: " + Encoding.ASCII.GetString(rest));
    }

    /// <summary>Reads a whole /proc file into the shared buffer (proc files report length 0, so read until EOF).</summary>
    private static ReadOnlySpan<byte> Read(string path)
    {
        using SafeFileHandle file = File.OpenHandle(path);
        int total = 0;
        while (true)
        {
            int read = RandomAccess.Read(file, s_buffer.AsSpan(total), total);
            if (read == 0)
            {
                return s_buffer.AsSpan(0, total);
            }

            total += read;
            if (total == s_buffer.Length)
            {
                throw new InvalidOperationException($"{path} is larger than {s_buffer.Length} bytes");
            }
        }
    }
}
