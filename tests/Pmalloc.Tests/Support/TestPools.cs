using System.Runtime.CompilerServices;

namespace Pmalloc.Tests;

/// <summary>Small helpers shared by the tests.</summary>
internal static class TestPools
{
    private static int s_counter;

    /// <summary>A pool name unique in this process, so /proc/self/maps lines can be told apart between tests.</summary>
    internal static string UniqueName([CallerMemberName] string test = "") => $"t{Interlocked.Increment(ref s_counter)}-{test}";

    /// <summary>A fresh write-once pool with a unique name.</summary>
    internal static WriteOncePool NewPool(int alignment = 16, int chunkSize = 64 * 1024, bool guardPages = true, [CallerMemberName] string test = "") =>
        new(new PoolOptions { Name = UniqueName(test), Alignment = alignment, ChunkSize = chunkSize, GuardPages = guardPages });

    /// <summary>The lines of /proc/self/maps that belong to the pool named <paramref name="name"/>.</summary>
    internal static string[] MapsLinesOf(string name)
    {
        Platform.RequireLinux("reads /proc/self/maps");
        return File.ReadAllLines("/proc/self/maps").Where(l => l.EndsWith($"/memfd:pmalloc:{name} (deleted)", StringComparison.Ordinal)).ToArray();
    }

    /// <summary>Fills <paramref name="length"/> bytes at <paramref name="address"/> with a pattern derived from <paramref name="seed"/>.</summary>
    internal static unsafe void Fill(nint address, nuint length, int seed)
    {
        byte* p = (byte*)address;
        for (nuint i = 0; i < length; i++)
        {
            p[i] = unchecked((byte)((seed * 31) + (int)i));
        }
    }

    /// <summary>Checks the pattern written by <see cref="Fill"/>.</summary>
    internal static unsafe bool HasPattern(nint address, nuint length, int seed)
    {
        byte* p = (byte*)address;
        for (nuint i = 0; i < length; i++)
        {
            if (p[i] != unchecked((byte)((seed * 31) + (int)i)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Are all <paramref name="length"/> bytes at <paramref name="address"/> zero?</summary>
    internal static unsafe bool IsZero(nint address, nuint length) =>
        new ReadOnlySpan<byte>((void*)address, checked((int)length)).IndexOfAnyExcept((byte)0) < 0;

    /// <summary>The descriptors of this process that are the memfd of the pool named <paramref name="name"/> (paths in /proc/self/fd).</summary>
    internal static string[] MemfdsOf(string name) =>
        [.. Directory.EnumerateFiles("/proc/self/fd").Where(fd => LinkTarget(fd) == $"/memfd:pmalloc:{name} (deleted)")];

    /// <summary>Where /proc/self/fd/N points, or null if it was closed in the meantime.</summary>
    internal static string? LinkTarget(string path)
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

    /// <summary>The RssShmem line of /proc/self/status: shared memory (memfd pages) this process has resident, in bytes.</summary>
    internal static long ResidentShmem() =>
        long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("RssShmem:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1],
            System.Globalization.CultureInfo.InvariantCulture) * 1024;
}
