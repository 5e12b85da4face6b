namespace Pmalloc;

/// <summary>Scratch memory on Linux: <c>mmap(MAP_PRIVATE | MAP_ANONYMOUS)</c>, then <c>MADV_DONTDUMP</c> and <c>mlock2(MLOCK_ONFAULT)</c>.</summary>
internal static unsafe class LinuxScratch
{
    internal static OsResult TryMap(nuint length, ChunkFlags flags, out nint address)
    {
        address = Interop.mmap(0, length, Interop.Prot.Read | Interop.Prot.Write, Interop.MapFlags.Private | Interop.MapFlags.Anonymous);
        if (address == Interop.MapFailed)
        {
            address = 0;
            return OsResult.Fail("mmap", $"map {length} bytes of scratch memory for a write batch");
        }

        // Secret memory's copies get both: they are as secret as the pool.
        bool secret = (flags & ChunkFlags.SecretMemory) != 0;
        OsResult result = OsResult.Ok;
        if ((secret || (flags & ChunkFlags.ExcludeFromCoreDumps) != 0) && Interop.madvise(address, length, Interop.Advice.DontDump) != 0)
        {
            result = OsResult.Fail("madvise(MADV_DONTDUMP)", $"exclude {length} bytes of a write batch's scratch memory from core dumps");
        }
        else if ((secret || (flags & ChunkFlags.LockInMemory) != 0) && Interop.mlock2(address, length, Interop.MlockFlags.OnFault) != 0)
        {
            result = OsResult.Fail("mlock2", $"lock {length} bytes of a write batch's scratch memory");
        }

        if (result.Failed)
        {
            _ = Interop.munmap(address, length);
            address = 0;
        }

        return result;
    }

    internal static void Unmap(nint address, nuint length) => _ = Interop.munmap(address, length);
}
