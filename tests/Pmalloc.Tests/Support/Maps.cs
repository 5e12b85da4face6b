using System.Globalization;

namespace Pmalloc.Tests;

/// <summary>One line of a <c>/proc/PID/maps</c>: range, permissions, file offset, device, inode and path.</summary>
internal sealed record MapsEntry(nint Start, nint End, string Permissions, long Offset, string Device, ulong Inode, string Path)
{
    internal bool IsWritable => Permissions.Contains('w', StringComparison.Ordinal);

    /// <summary>The mappings of process <paramref name="pid"/> (this one by default), as /proc shows them now.</summary>
    internal static List<MapsEntry> Read(string pid = "self")
    {
        Platform.RequireLinux("reads /proc/PID/maps");
        return [.. File.ReadLines($"/proc/{pid}/maps").Select(Parse)];
    }

    /// <summary>Parses one line.</summary>
    internal static MapsEntry Parse(string line)
    {
        string[] f = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        string[] range = f[0].Split('-');
        return new MapsEntry(
            (nint)long.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            (nint)long.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            f[1],
            long.Parse(f[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            f[3],
            ulong.Parse(f[4], CultureInfo.InvariantCulture),
            f.Length > 5 ? f[5].Trim() : "");
    }

    /// <summary>The path a pool's memfd shows in maps.</summary>
    internal static string PoolPath(string pool) => $"/memfd:pmalloc:{pool} (deleted)";
}
