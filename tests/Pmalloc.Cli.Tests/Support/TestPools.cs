using System.Runtime.CompilerServices;

namespace Pmalloc.Cli.Tests;

/// <summary>Small pool helpers for the CLI's tests (the library's own tests have theirs).</summary>
internal static class TestPools
{
    private static int s_counter;

    /// <summary>A pool name unique in this process, so /proc/self/maps lines can be told apart between tests.</summary>
    internal static string UniqueName([CallerMemberName] string test = "") => $"t{Interlocked.Increment(ref s_counter)}-{test}";

    /// <summary>A fresh write-once pool with a unique name.</summary>
    internal static WriteOncePool NewPool(int chunkSize = 64 * 1024, [CallerMemberName] string test = "") =>
        new(new PoolOptions { Name = UniqueName(test), ChunkSize = chunkSize });

    /// <summary>Fills <paramref name="length"/> bytes at <paramref name="address"/> with a pattern derived from <paramref name="seed"/>.</summary>
    internal static unsafe void Fill(nint address, nuint length, int seed)
    {
        byte* p = (byte*)address;
        for (nuint i = 0; i < length; i++)
        {
            p[i] = unchecked((byte)((seed * 31) + (int)i));
        }
    }
}
