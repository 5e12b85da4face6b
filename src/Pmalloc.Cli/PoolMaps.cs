using System.Globalization;

namespace Pmalloc.Cli;

/// <summary>One mapping (VMA) of <c>/proc/PID/smaps</c>: the <c>maps</c> line plus the fields inspect uses.</summary>
/// <param name="Offset">Where in the file the mapping starts.</param>
internal sealed record Vma(ulong Start, ulong End, string Permissions, ulong Offset, ulong Inode, string Path)
{
    internal ulong Size => End - Start;

    /// <summary>Resident bytes (<c>Rss:</c>).</summary>
    internal long ResidentBytes { get; set; }

    /// <summary>Locked bytes (<c>Locked:</c>, from mlock).</summary>
    internal long LockedBytes { get; set; }

    /// <summary>The two-letter flags of <c>VmFlags:</c>: <c>dd</c> don't dump, <c>sl</c> sealed (kernel 6.10+), <c>lo</c> locked...</summary>
    internal IReadOnlySet<string> Flags { get; set; } = new HashSet<string>();

    /// <summary>A <c>PROT_NONE</c> private mapping with no file: what a guard page looks like.</summary>
    internal bool IsGuard => Permissions == "---p" && Path.Length == 0;
}

/// <summary>What <c>pmalloc inspect</c> reports for one pool name.</summary>
/// <param name="Name">The pool's name (pools that share a name are reported together).</param>
/// <param name="Chunks">Chunks: runs of the pool's mappings contiguous both in memory and in their memfd (a chunk can span
/// several VMAs, e.g. when partly locked; every chunk of a pool is a range of the pool's one memfd).</param>
/// <param name="MappedBytes">Usable bytes mapped, guard pages not included.</param>
/// <param name="ResidentBytes">Bytes in RAM.</param>
/// <param name="Protection"><c>r</c> (protected), <c>rw</c> (writable), or <c>mixed</c>.</param>
/// <param name="Sealed">Every mapping is sealed with mseal (<c>sl</c> in VmFlags).</param>
/// <param name="LockedBytes">Bytes locked in RAM (<c>Locked:</c>).</param>
/// <param name="ExcludedFromCoreDumps">Every mapping has <c>dd</c> (MADV_DONTDUMP).</param>
/// <param name="GuardedChunks">Chunks with a guard page right below and right above: a <c>---p</c> neighbour mapping, or the
/// chunk's own first and last pages installed as guard regions (<c>MADV_GUARD_INSTALL</c>; bit 58 in
/// <c>/proc/PID/pagemap</c>, Linux 6.14+).</param>
internal sealed record PoolMapInfo(string Name, int Chunks, long MappedBytes, long ResidentBytes, string Protection, bool Sealed,
    long LockedBytes, bool ExcludedFromCoreDumps, int GuardedChunks)
{
    public bool Locked => LockedBytes > 0;

    public bool GuardPages => GuardedChunks == Chunks;
}

/// <summary>
/// Finds the pools of a process in <c>/proc/PID/smaps</c> by their memfd names, <c>/memfd:pmalloc:NAME (deleted)</c>;
/// chunks of <c>SecretMemory</c> pools show only as <c>/secretmem</c> and are reported together.
/// </summary>
internal static class PoolMaps
{
    /// <summary>How the kernel names a pool's chunk: the library names each chunk's memfd <c>pmalloc:</c> and the pool's name.</summary>
    internal const string Prefix = "/memfd:pmalloc:";
    private const string Deleted = " (deleted)";
    private const string SecretPath = "/secretmem";

    /// <summary>What inspect calls the chunks of every pool made with <c>SecretMemory</c>, which the kernel shows only as <c>/secretmem</c>.</summary>
    internal const string SecretPoolName = "(secret memory)";

    /// <summary>Reads the pools of process <paramref name="pid"/> ("self" for this one).</summary>
    /// <exception cref="InspectException">The process does not exist, or its smaps cannot be read.</exception>
    internal static IReadOnlyList<PoolMapInfo> Read(string pid)
    {
        string path = $"/proc/{pid}/smaps";
        try
        {
            using GuardPageProbe guards = new(pid);
            return Summarize(Parse(File.ReadAllText(path)), guards.IsGuard);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException || (e is IOException && !Directory.Exists($"/proc/{pid}")))
        {
            throw new InspectException($"no process with PID {pid}");
        }
        catch (UnauthorizedAccessException)
        {
            throw new InspectException($"cannot read {path}: permission denied (the process belongs to another user: run as that user, or as root)");
        }
        catch (IOException e)
        {
            throw new InspectException($"cannot read {path}: {e.Message}");
        }
    }

    /// <summary>Parses the text of an smaps file into its mappings, in address order.</summary>
    internal static List<Vma> Parse(string smaps)
    {
        List<Vma> vmas = [];
        Vma? current = null;
        foreach (string line in smaps.Split('\n'))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            int dash = line.IndexOf('-', StringComparison.Ordinal);

            // A mapping's header starts "START-END perms": a dash before the first space. Field lines start "Name:".
            if (dash > 0 && dash < line.IndexOf(' ', StringComparison.Ordinal) && (colon < 0 || colon > dash))
            {
                vmas.Add(current = ParseHeader(line));
            }
            else if (current is not null && colon > 0)
            {
                string key = line[..colon];
                string value = line[(colon + 1)..].Trim();
                switch (key)
                {
                    case "Rss": current.ResidentBytes = Kilobytes(value); break;
                    case "Locked": current.LockedBytes = Kilobytes(value); break;
                    case "VmFlags": current.Flags = value.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(); break;
                }
            }
        }

        return vmas;
    }

    /// <summary>
    /// Groups the pmalloc mappings by pool name and into chunks (runs contiguous in memory and in the memfd; a pool's
    /// inaccessible spare mapping is no chunk and is left out), and finds each
    /// chunk's guard pages: <c>---p</c> neighbours, or its own end pages where <paramref name="isGuardPage"/> says they are
    /// installed guard regions (those two pages are then not counted as mapped bytes).
    /// </summary>
    internal static IReadOnlyList<PoolMapInfo> Summarize(List<Vma> vmas, Func<ulong, bool>? isGuardPage = null)
    {
        vmas.Sort((a, b) => a.Start.CompareTo(b.Start));
        ulong page = (ulong)Environment.SystemPageSize;
        List<PoolMapInfo> pools = [];
        foreach (IGrouping<string, Vma> pool in vmas.Where(v => PoolName(v.Path) is not null).GroupBy(v => PoolName(v.Path)!))
        {
            // A PROT_NONE mapping of a pool's memfd is its spare (an emptied chunk kept for reuse, punched), not a chunk.
            List<Vma> mine = [.. pool.Where(v => !v.Permissions.StartsWith("---", StringComparison.Ordinal))];
            if (mine.Count == 0)
            {
                continue;
            }

            List<List<Vma>> chunks = [];
            foreach (Vma v in mine)
            {
                Vma? last = chunks.Count > 0 ? chunks[^1][^1] : null;
                if (last is not null && last.End == v.Start && last.Inode == v.Inode && last.Offset + last.Size == v.Offset)
                {
                    chunks[^1].Add(v);
                }
                else
                {
                    chunks.Add([v]);
                }
            }

            int guarded = 0;
            long guardBytes = 0;
            foreach (List<Vma> chunk in chunks)
            {
                ulong start = chunk[0].Start, end = chunk[^1].End;
                if (isGuardPage is not null && end - start > 2 * page && isGuardPage(start) && isGuardPage(end - page))
                {
                    guarded++;
                    guardBytes += 2 * (long)page;
                }
                else if (vmas.Exists(v => v.End == start && v.IsGuard) && vmas.Exists(v => v.Start == end && v.IsGuard))
                {
                    guarded++;
                }
            }

            bool readable = mine.TrueForAll(v => v.Permissions.StartsWith("r-", StringComparison.Ordinal));
            bool writable = mine.TrueForAll(v => v.Permissions.StartsWith("rw", StringComparison.Ordinal));
            pools.Add(new PoolMapInfo(
                pool.Key,
                chunks.Count,
                mine.Sum(v => (long)v.Size) - guardBytes,
                mine.Sum(v => v.ResidentBytes),
                readable ? "r" : writable ? "rw" : "mixed",
                mine.TrueForAll(v => v.Flags.Contains("sl")),
                mine.Sum(v => v.LockedBytes),
                mine.TrueForAll(v => v.Flags.Contains("dd")),
                guarded));
        }

        return pools;
    }

    /// <summary>The pool name in a mapping's path, or null for a mapping that is not a pmalloc chunk.</summary>
    internal static string? PoolName(string path)
    {
        // memfd_secret chunks (PoolOptions.SecretMemory) carry no name: they are reported together.
        if (path.StartsWith(SecretPath, StringComparison.Ordinal))
        {
            return SecretPoolName;
        }

        if (!path.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        string name = path[Prefix.Length..];
        return name.EndsWith(Deleted, StringComparison.Ordinal) ? name[..^Deleted.Length] : name;
    }

    private static Vma ParseHeader(string line)
    {
        // START-END PERMS OFFSET DEV INODE [PATH]; the path is everything after the inode, and may hold spaces.
        string[] f = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        string[] range = f[0].Split('-');
        return new Vma(
            ulong.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            ulong.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            f[1],
            ulong.Parse(f[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            ulong.Parse(f[4], CultureInfo.InvariantCulture),
            f.Length > 5 ? f[5].Trim() : "");
    }

    private static long Kilobytes(string value) =>
        long.Parse(value.Split(' ', 2)[0], CultureInfo.InvariantCulture) * 1024;
}

/// <summary>
/// Reads <c>/proc/PID/pagemap</c> to tell whether a page is an installed guard region (bit 58, Linux 6.14+). Where the file
/// cannot be read (another user's process, an older kernel), every answer is false and guard regions go unseen.
/// </summary>
internal sealed class GuardPageProbe : IDisposable
{
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle? _pagemap;

    internal GuardPageProbe(string pid)
    {
        try
        {
            _pagemap = File.OpenHandle($"/proc/{pid}/pagemap", FileMode.Open, FileAccess.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _pagemap = null;
        }
    }

    /// <summary>Is the page at <paramref name="address"/> a guard region?</summary>
    internal bool IsGuard(ulong address)
    {
        if (_pagemap is null)
        {
            return false;
        }

        Span<byte> entry = stackalloc byte[8];
        try
        {
            return RandomAccess.Read(_pagemap, entry, (long)(address / (ulong)Environment.SystemPageSize * 8)) == 8
                && (BitConverter.ToUInt64(entry) & (1UL << 58)) != 0;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public void Dispose() => _pagemap?.Dispose();
}

/// <summary>The process cannot be inspected; the message says why.</summary>
internal sealed class InspectException(string message) : Exception(message);
