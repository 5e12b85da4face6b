using System.Globalization;

namespace Pmalloc.Cli;

/// <summary>A mapping of a pool's memfd, as a line of <c>/proc/self/maps</c> shows it.</summary>
/// <param name="Start">The first byte.</param>
/// <param name="Length">The mapped bytes.</param>
/// <param name="Permissions"><c>r--s</c> for a protected chunk, <c>rw-s</c> for a writable one.</param>
/// <param name="Offset">Where in the memfd the mapping starts.</param>
/// <param name="Inode">The memfd's inode: every mapping of one memfd shows the same.</param>
/// <param name="Path">The memfd's name as the kernel shows it, <c>/memfd:pmalloc:NAME (deleted)</c>.</param>
internal sealed record PoolMapping(nint Start, nuint Length, string Permissions, long Offset, ulong Inode, string Path)
{
    internal nint End => Start + (nint)Length;

    /// <summary>The <c>/proc/self/map_files</c> entry of this mapping, which reopens its memfd.</summary>
    internal string MapFilesPath => $"/proc/self/map_files/{Start:x}-{End:x}";

    internal bool Contains(nint address) => address >= Start && address < End;

    /// <summary>The memfd offset of <paramref name="address"/>, a byte of this mapping.</summary>
    internal long FileOffsetOf(nint address) => Offset + (address - Start);
}

/// <summary>
/// Finds a pool's chunks and their memfds the way an attacker inside the process would, knowing nothing but the
/// pool's name: a chunk is a <c>/memfd:pmalloc:NAME (deleted)</c> line of <c>/proc/self/maps</c> (every chunk of a pool a
/// range of the same memfd, its guard pages included where they are installed in the mapping), and its memfd the
/// <c>/proc/self/fd</c> link to the same name whose <c>/proc/self/fdinfo</c> shows the same inode, while the pool holds one.
/// </summary>
internal static class ProcSelf
{
    /// <summary>Every mapping of pool <paramref name="poolName"/>'s memfds, in address order; adjacent pieces of one mapping are joined.</summary>
    internal static List<PoolMapping> Mappings(string poolName)
    {
        List<PoolMapping> mappings = [];
        foreach (Vma v in PoolMaps.Parse(File.ReadAllText("/proc/self/maps")))
        {
            if (PoolMaps.PoolName(v.Path) != poolName || !v.Path.StartsWith(PoolMaps.Prefix, StringComparison.Ordinal))
            {
                continue;
            }

            // The kernel splits a mapping where its flags differ (a part locked, say): one chunk, several lines.
            if (mappings.Count > 0 && mappings[^1] is { } last && last.Inode == v.Inode && last.Permissions == v.Permissions
                && (ulong)last.End == v.Start && (ulong)last.Offset + (ulong)last.Length == v.Offset)
            {
                mappings[^1] = last with { Length = last.Length + (nuint)v.Size };
                continue;
            }

            mappings.Add(new PoolMapping((nint)v.Start, (nuint)v.Size, v.Permissions, (long)v.Offset, v.Inode, v.Path));
        }

        return mappings;
    }

    /// <summary>The line of <c>/proc/self/maps</c> whose range holds <paramref name="address"/>, or null where nothing is mapped.</summary>
    internal static string? MappingAt(nint address) =>
        PoolMaps.Parse(File.ReadAllText("/proc/self/maps")).FirstOrDefault(v => v.Start <= (ulong)address && (ulong)address < v.End) is { } v
            ? $"{v.Start:x}-{v.End:x} {v.Permissions} {v.Path}"
            : null;

    /// <summary>The mapping of pool <paramref name="poolName"/> that holds <paramref name="address"/>: its chunk.</summary>
    internal static PoolMapping ChunkAt(string poolName, nint address) =>
        Mappings(poolName).FirstOrDefault(m => m.Contains(address))
            ?? throw new InvalidOperationException($"setup: no mapping of pool '{poolName}' in /proc/self/maps holds 0x{address:x}");

    /// <summary>
    /// The number of an open fd of <paramref name="mapping"/>'s memfd, found through <c>/proc/self/fd</c>, or -1 if the
    /// process holds none (a protected write-once pool closed its memfd).
    /// </summary>
    internal static int FdOf(PoolMapping mapping)
    {
        foreach (string link in Directory.GetFiles("/proc/self/fd"))
        {
            string fd = Path.GetFileName(link);
            if (LinkTarget(link) == mapping.Path && Inode(fd) is var inode && (inode is null || inode == mapping.Inode))
            {
                return int.Parse(fd, CultureInfo.InvariantCulture);
            }
        }

        return -1;
    }

    /// <summary>Where the symbolic link <paramref name="path"/> points, or null once it is gone.</summary>
    private static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The <c>ino:</c> line of <c>/proc/self/fdinfo/FD</c> (Linux 5.14), or null where the kernel shows none.</summary>
    private static ulong? Inode(string fd)
    {
        try
        {
            string? line = File.ReadLines($"/proc/self/fdinfo/{fd}").FirstOrDefault(l => l.StartsWith("ino:", StringComparison.Ordinal));
            return line is null ? null : ulong.Parse(line["ino:".Length..].Trim(), CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            // The fd was closed since the directory was listed.
            return null;
        }
    }
}
