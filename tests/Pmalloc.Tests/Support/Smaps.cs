using System.Globalization;

namespace Pmalloc.Tests;

/// <summary>One mapping of <c>/proc/self/smaps</c>: its range, permissions, path, sizes (kB) and VmFlags.</summary>
internal sealed record SmapsEntry(nint Start, nint End, string Permissions, string Path, Dictionary<string, long> Kilobytes, HashSet<string> VmFlags)
{
    /// <summary>Every mapping of process <paramref name="pid"/> (this one by default), in address order.</summary>
    internal static List<SmapsEntry> Read(string pid = "self")
    {
        Platform.RequireLinux("reads /proc/PID/smaps");
        List<SmapsEntry> entries = [];
        foreach (string line in File.ReadLines($"/proc/{pid}/smaps"))
        {
            string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 5 && parts[0].Contains('-', StringComparison.Ordinal) && !parts[0].EndsWith(':'))
            {
                string[] range = parts[0].Split('-');
                entries.Add(new(
                    (nint)long.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                    (nint)long.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                    parts[1],
                    string.Join(' ', parts.Skip(5)),
                    [],
                    []));
            }
            else if (parts.Length > 0 && parts[0] == "VmFlags:")
            {
                entries[^1].VmFlags.UnionWith(parts.Skip(1));
            }
            else if (parts.Length == 3 && parts[2] == "kB")
            {
                entries[^1].Kilobytes[parts[0].TrimEnd(':')] = long.Parse(parts[1], CultureInfo.InvariantCulture);
            }
        }

        return entries;
    }

    /// <summary>The VMA that holds the chunk of <paramref name="mapping"/> (guard pages included where they are installed in it), and its neighbours.</summary>
    internal static (SmapsEntry? Before, SmapsEntry Mapping, SmapsEntry? After) OfChunk(ChunkMapping mapping) => Around(mapping.VmaStart());

    /// <summary>The mapping that starts at <paramref name="start"/>, the one just before it, and the one just after it.</summary>
    internal static (SmapsEntry? Before, SmapsEntry Mapping, SmapsEntry? After) Around(nint start)
    {
        List<SmapsEntry> all = Read();
        int i = all.FindIndex(e => e.Start == start);
        Assert.True(i >= 0, $"no mapping starts at 0x{start:x}");
        SmapsEntry? before = i > 0 && all[i - 1].End == start ? all[i - 1] : null;
        SmapsEntry? after = i + 1 < all.Count && all[i + 1].Start == all[i].End ? all[i + 1] : null;
        return (before, all[i], after);
    }
}
