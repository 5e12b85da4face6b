namespace Pmalloc;

/// <summary>
/// Scratch memory for copies of pool data that must carry the pool's hardening: a write batch's pending bytes, and the
/// runs it assembles before it writes them through the backing. An anonymous private mapping, excluded from core dumps
/// and locked as the flags ask. Stated here, implemented once per OS (<c>OsScratch.Linux.cs</c>, <c>OsScratch.Windows.cs</c>),
/// dispatched like <see cref="OsMemory"/>. It knows no pool.
/// </summary>
internal static unsafe class OsScratch
{
    /// <summary>Maps <paramref name="length"/> bytes (a multiple of the page size) of zeroed read-write memory with the hardening in <paramref name="flags"/>.</summary>
    internal static OsResult TryMap(nuint length, ChunkFlags flags, out nint address) =>
        OperatingSystem.IsWindows() ? WindowsScratch.TryMap(length, flags, out address) : LinuxScratch.TryMap(length, flags, out address);

    /// <summary>Unmaps scratch memory from <see cref="TryMap"/>.</summary>
    internal static void Unmap(nint address, nuint length)
    {
        if (OperatingSystem.IsWindows())
        {
            WindowsScratch.Unmap(address, length);
        }
        else
        {
            LinuxScratch.Unmap(address, length);
        }
    }
}
