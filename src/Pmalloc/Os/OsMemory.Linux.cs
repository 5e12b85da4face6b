using System.Text;
using static Pmalloc.OsMemory;

namespace Pmalloc;

/// <summary>
/// The OS memory contract on Linux: each chunk is a memfd (<c>memfd_create</c>, or <c>memfd_secret</c>) mapped
/// <c>MAP_SHARED</c>, in the middle of a <c>PROT_NONE</c> reservation whose first and last pages are the guards;
/// protect is <c>mprotect</c>, sealing is <c>mseal</c> plus memfd seals, writes through the backing are <c>pwrite</c>.
/// </summary>
/// <remarks>
/// Called only through <see cref="OsMemory"/>, on Linux. (It carries no <c>[SupportedOSPlatform("linux")]</c>: the platform
/// analyzer cannot tell that OsMemory's "not Windows" branch is Linux, which <see cref="OsPlatform"/> guarantees.)
/// </remarks>
internal static unsafe class LinuxMemory
{
    /// <summary>The seals that make a memfd's contents final: no write or new writable mapping, no resize, no more seal changes.</summary>
    private const Interop.Seals FinalSeals = Interop.Seals.FutureWrite | Interop.Seals.Grow | Interop.Seals.Shrink | Interop.Seals.Seal;

    /// <summary>Seals a memfd's size only, for write-rare pools whose memfd is still written after Protect.</summary>
    private const Interop.Seals SizeSeals = Interop.Seals.Grow | Interop.Seals.Shrink;

    internal static OsResult TryMap(string name, nuint length, ChunkFlags flags, out ChunkMapping? mapping)
    {
        AssertPageMultiple(length);
        mapping = null;
        bool secret = (flags & ChunkFlags.SecretMemory) != 0;
        Interop.Prot protection = (flags & ChunkFlags.ReadOnlyFromBirth) != 0 ? Interop.Prot.Read : Interop.Prot.Read | Interop.Prot.Write;
        SafeFdHandle fd = secret
            ? Interop.memfd_secret(Interop.OCloseOnExec)
            : Interop.memfd_create(MemfdName(name), Interop.MemfdFlags.CloseOnExec | Interop.MemfdFlags.AllowSealing);
        if (fd.IsInvalid)
        {
            OsResult failed = OsResult.Fail(secret ? "memfd_secret" : "memfd_create", $"create a chunk of {length} bytes");
            fd.Dispose();
            return failed;
        }

        nint reservation = 0;
        nuint reservationLength = 0;
        OsResult result = MapCore(fd, length, flags, protection, ref reservation, ref reservationLength, out nint start);
        if (result.Failed)
        {
            if (reservation != 0)
            {
                _ = Interop.munmap(reservation, reservationLength);
            }

            fd.Dispose();
            return result;
        }

        mapping = new ChunkMapping(fd, reservation, reservationLength, start, length, flags);
        return OsResult.Ok;
    }

    internal static OsResult TryProtect(ChunkMapping mapping, bool writable) =>
        Interop.mprotect(mapping.Start, mapping.Length, writable ? Interop.Prot.Read | Interop.Prot.Write : Interop.Prot.Read) == 0
            ? OsResult.Ok
            : OsResult.Fail("mprotect", writable ? "make a chunk writable" : "make a chunk read-only");

    internal static OsResult TrySealMapping(ChunkMapping mapping)
    {
        if (Interop.mseal(mapping.ReservationStart, mapping.ReservationLength) != 0)
        {
            return OsResult.Fail("mseal", "seal a chunk's mapping");
        }

        mapping.IsSealed = true;
        return OsResult.Ok;
    }

    internal static OsResult TrySealBacking(ChunkMapping mapping, bool final)
    {
        if (mapping.IsSecret)
        {
            // A memfd_secret takes no seals (EINVAL) and cannot be reopened through /proc (ENXIO): closing its only fd is its seal.
            if (final)
            {
                mapping.Backing.Dispose();
                mapping.IsBackingSealed = true;
            }

            return OsResult.Ok;
        }

        if (!mapping.HasBacking)
        {
            return OsResult.Fail(Interop.Errno.EBADF, "fcntl(F_ADD_SEALS)", "seal a chunk's memfd");
        }

        if (Interop.fcntl(mapping.Fd, Interop.FcntlCommand.AddSeals, (int)(final ? FinalSeals : SizeSeals)) != 0)
        {
            return OsResult.Fail("fcntl(F_ADD_SEALS)", "seal a chunk's memfd");
        }

        mapping.IsBackingSealed |= final;
        return OsResult.Ok;
    }

    internal static OsResult TryWriteBacking(ChunkMapping mapping, nuint offset, byte* source, nuint length)
    {
        System.Diagnostics.Debug.Assert(offset + length <= mapping.Length);
        if (mapping.IsSecret)
        {
            // A memfd_secret takes no pwrite: its writes go through the writer process.
            return OsResult.Fail(Interop.Errno.ESPIPE, "pwrite", $"write {length} bytes through a chunk's memfd_secret");
        }

        long position = mapping.BackingOffset + (long)offset;
        while (length > 0)
        {
            // pwrite to a memfd writes everything unless interrupted or out of memory; loop for the partial case anyway.
            nint written = Interop.pwrite(mapping.Fd, source, length, position);
            if (written < 0)
            {
                if (Interop.LastErrno == Interop.Errno.EINTR)
                {
                    continue;
                }

                return OsResult.Fail("pwrite", $"write {length} bytes through a chunk's memfd");
            }

            source += written;
            position += written;
            length -= (nuint)written;
        }

        return OsResult.Ok;
    }

    internal static OsResult TryZeroBacking(ChunkMapping mapping, nuint length)
    {
        System.Diagnostics.Debug.Assert(length <= mapping.Length);
        if (mapping.IsSecret || !mapping.HasBacking)
        {
            return OsResult.Fail(mapping.IsSecret ? Interop.Errno.ESPIPE : Interop.Errno.EBADF, "pwrite", $"zero {length} bytes through a chunk's memfd");
        }

        // Only the parts that hold data: SEEK_DATA and SEEK_HOLE skip what was never touched (a hole reads as zeros
        // already), so wiping commits no page. Each data extent is overwritten in place with pwrite: not punched out
        // (FALLOC_FL_PUNCH_HOLE), which would hand the pages back to the kernel with their contents until reused.
        const int ZeroBytes = 16 * 1024;
        byte* zeros = stackalloc byte[ZeroBytes];
        new Span<byte>(zeros, ZeroBytes).Clear();
        long start = mapping.BackingOffset, end = start + (long)length;
        long position = start;
        while (position < end)
        {
            long data = Interop.lseek(mapping.Fd, position, Interop.Whence.Data);
            if (data < 0)
            {
                // ENXIO: no data at or after position; anything else: fall back to zeroing the rest whole.
                if (Interop.LastErrno == Interop.Errno.ENXIO)
                {
                    break;
                }

                data = position;
            }

            if (data >= end)
            {
                break;
            }

            long hole = Interop.lseek(mapping.Fd, data, Interop.Whence.Hole);
            long extentEnd = hole < 0 || hole > end ? end : hole;
            for (long at = data; at < extentEnd;)
            {
                nuint piece = (nuint)Math.Min(ZeroBytes, extentEnd - at);
                OsResult written = TryWriteBacking(mapping, (nuint)(at - start), zeros, piece);
                if (written.Failed)
                {
                    return written;
                }

                at += (long)piece;
            }

            position = extentEnd;
        }

        return OsResult.Ok;
    }

    internal static void CloseBacking(ChunkMapping mapping) => mapping.Backing.Dispose();

    internal static void Unmap(ChunkMapping mapping)
    {
        // munmap of a range we mapped fails only if the mapping is sealed; the caller checks that first.
        _ = Interop.munmap(mapping.ReservationStart, mapping.ReservationLength);
        mapping.Backing.Dispose();
    }

    internal static string LockedMemoryLimit() =>
        Interop.getrlimit(Interop.Resource.MemLock, out Interop.RLimit limit) != 0 ? "unknown"
        : limit.Current == ulong.MaxValue ? "unlimited"
        : $"{limit.Current} bytes";

    internal static bool IsLockedMemoryLimit(OsResult result) =>
        result.Call is "mlock2" or "mmap(memfd_secret)" && result.Errno is Interop.Errno.ENOMEM or Interop.Errno.EPERM or Interop.Errno.EAGAIN;

    internal static OsErrorKind KindOf(OsResult result) => result.Errno switch
    {
        Interop.Errno.ENOMEM => OsErrorKind.OutOfMemory,
        Interop.Errno.ENOSYS => OsErrorKind.NotSupported,
        Interop.Errno.EPERM or Interop.Errno.EACCES => OsErrorKind.Denied,
        _ => OsErrorKind.Other,
    };

    /// <summary>Sizes the memfd, reserves guard + chunk + guard, maps the memfd over the middle, and hardens it.</summary>
    private static OsResult MapCore(SafeFdHandle fd, nuint length, ChunkFlags flags, Interop.Prot protection, ref nint reservation, ref nuint reservationLength, out nint start)
    {
        start = 0;
        if (Interop.ftruncate(fd, checked((long)length)) != 0)
        {
            return OsResult.Fail("ftruncate", $"size a chunk of {length} bytes");
        }

        bool secret = (flags & ChunkFlags.SecretMemory) != 0;
        string mmapCall = secret ? "mmap(memfd_secret)" : "mmap";
        if ((flags & ChunkFlags.GuardPages) != 0)
        {
            // Reserve guard + chunk + guard as one inaccessible anonymous region, then map the memfd over its middle:
            // the guards stay PROT_NONE neighbours ("---p" in /proc/PID/maps).
            nuint total = checked(length + (2 * (nuint)PageSize));
            nint region = Interop.mmap(0, total, Interop.Prot.None, Interop.MapFlags.Private | Interop.MapFlags.Anonymous | Interop.MapFlags.NoReserve);
            if (region == Interop.MapFailed)
            {
                return OsResult.Fail("mmap", $"reserve {total} bytes");
            }

            reservation = region;
            reservationLength = total;
            start = Interop.mmap(region + PageSize, length, protection, Interop.MapFlags.Shared | Interop.MapFlags.Fixed, fd, 0);
        }
        else
        {
            start = Interop.mmap(0, length, protection, Interop.MapFlags.Shared, fd, 0);
            if (start != Interop.MapFailed)
            {
                reservation = start;
                reservationLength = length;
            }
        }

        if (start == Interop.MapFailed)
        {
            return OsResult.Fail(mmapCall, $"map a chunk of {length} bytes");
        }

        // memfd_secret pages are locked and left out of dumps by the kernel itself (VM_LOCKED | VM_DONTDUMP),
        // and mlock on them fails: nothing to do.
        if (!secret && (flags & ChunkFlags.LockInMemory) != 0 && Interop.mlock2(start, length, Interop.MlockFlags.OnFault) != 0)
        {
            return OsResult.Fail("mlock2", $"lock a chunk of {length} bytes in memory");
        }

        if (!secret && (flags & ChunkFlags.ExcludeFromCoreDumps) != 0 && Interop.madvise(start, length, Interop.Advice.DontDump) != 0)
        {
            return OsResult.Fail("madvise(MADV_DONTDUMP)", $"exclude a chunk of {length} bytes from core dumps");
        }

        return OsResult.Ok;
    }

    private static string MemfdName(string name)
    {
        string full = BackingPrefix + name;
        if (Encoding.UTF8.GetByteCount(full) <= Interop.MemfdMaxNameBytes)
        {
            return full;
        }

        // Keep the name within the kernel's limit without splitting a UTF-16 surrogate pair.
        int cut = Math.Min(full.Length, Interop.MemfdMaxNameBytes / 3);
        if (char.IsHighSurrogate(full[cut - 1]))
        {
            cut--;
        }

        return full[..cut];
    }
}
