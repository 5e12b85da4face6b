namespace Pmalloc.Tests;

/// <summary>Is a page a guard page? Either an installed guard region (<c>MADV_GUARD_INSTALL</c>, bit 58 of its
/// <c>/proc/self/pagemap</c> entry, Linux 6.14+) or inside an inaccessible anonymous mapping (<c>---p</c>).</summary>
internal static class GuardPages
{
    private static readonly int Page = Environment.SystemPageSize;

    /// <summary>Is the page at <paramref name="page"/> a guard region installed with MADV_GUARD_INSTALL?</summary>
    internal static bool IsInstalled(nint page)
    {
        using Microsoft.Win32.SafeHandles.SafeFileHandle pagemap = File.OpenHandle("/proc/self/pagemap", FileMode.Open, FileAccess.Read);
        byte[] entry = new byte[8];
        Assert.Equal(8, RandomAccess.Read(pagemap, entry, (long)((ulong)page / (ulong)Page) * 8));
        return (BitConverter.ToUInt64(entry) & (1UL << 58)) != 0;
    }

    /// <summary>Is the page at <paramref name="page"/> inaccessible for a reason of the library's making: an installed guard, or a <c>---p</c> anonymous mapping?</summary>
    internal static bool IsGuard(nint page) =>
        IsInstalled(page) || SmapsEntry.Read().Exists(e => e.Start <= page && page < e.End && e.Permissions == "---p" && e.Path.Length == 0);

    /// <summary>Asserts that the chunk of <paramref name="mapping"/> has a guard page right below and right above it.</summary>
    internal static void AssertAround(ChunkMapping mapping)
    {
        Assert.True(IsGuard(mapping.Start - Page), $"no guard page below the chunk at 0x{mapping.Start:x}");
        Assert.True(IsGuard(mapping.End()), $"no guard page above the chunk at 0x{mapping.Start:x}");
    }
}
