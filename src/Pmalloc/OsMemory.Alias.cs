namespace Pmalloc;

/// <summary>The OS layer's part of the write-rare path: private writable aliases of a chunk's memfd, and giving up the write side.</summary>
internal static partial class OsMemory
{
    /// <summary>
    /// Maps [<paramref name="offset"/>, +<paramref name="length"/>) of the chunk's memfd read-write, <c>MAP_SHARED</c>, at an
    /// address the kernel chooses: a second view of the same pages, never the public address. Page-aligned offset and length.
    /// </summary>
    internal static nint MapAlias(string poolName, ChunkMapping mapping, nuint offset, nuint length)
    {
        nint alias = TryMapAlias(mapping, offset, length);
        if (alias == 0)
        {
            Interop.ThrowLastError("mmap", $"Pool '{poolName}': cannot map a writable alias of {length} bytes of the chunk at {ThrowHelper.Hex(mapping.Start)}");
        }

        return alias;
    }

    /// <summary>Like <see cref="MapAlias"/>, but returns 0 (errno set) on failure or when the memfd was given up.</summary>
    internal static nint TryMapAlias(ChunkMapping mapping, nuint offset, nuint length)
    {
        AssertPageMultiple(length);
        System.Diagnostics.Debug.Assert(offset % (nuint)PageSize == 0 && offset + length <= mapping.Length);
        if (mapping.Fd < 0)
        {
            return 0;
        }

        nint alias = Interop.mmap(0, length, Interop.Prot.Read | Interop.Prot.Write, Interop.MapFlags.Shared, mapping.Fd, (long)offset);
        return alias == Interop.MapFailed ? 0 : alias;
    }

    /// <summary>Unmaps an alias made by <see cref="MapAlias"/>.</summary>
    internal static void UnmapAlias(nint alias, nuint length)
    {
        // munmap of an unsealed private range we mapped cannot fail.
        _ = Interop.munmap(alias, length);
    }

    /// <summary>
    /// Gives up the means to write the chunk other than through its (read-only) public mapping: closes the memfd, so no
    /// <c>pwrite</c> and no new writable alias is possible; the <c>MAP_SHARED</c> mapping keeps the memory alive.
    /// Called by <see cref="WriteRarePool.MakeReadOnly"/>, after a sealed pool's memfds got <c>F_SEAL_FUTURE_WRITE</c>
    /// (<see cref="ProtectablePool.SealBackingCore"/>): closing alone would not stop a reopen through <c>/proc/self/map_files</c>.
    /// </summary>
    internal static void GiveUpWriteSide(ChunkMapping mapping) => mapping.CloseFd();
}
