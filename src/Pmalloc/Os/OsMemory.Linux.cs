using static Pmalloc.OsMemory;

namespace Pmalloc;

/// <summary>
/// The OS memory contract on Linux: a pool's chunks are ranges of one memfd (<c>memfd_create</c>, grown with
/// <c>ftruncate</c>) mapped <c>MAP_SHARED</c>; guard pages are installed in the chunk's own mapping
/// (<c>MADV_GUARD_INSTALL</c>, one VMA per chunk) where the kernel has it, else the chunk sits in the middle of a
/// <c>PROT_NONE</c> reservation whose first and last pages are the guards (three VMAs). Secret chunks have a
/// <c>memfd_secret</c> each, in a reservation. Protect is <c>mprotect</c>, sealing is <c>mseal</c> plus memfd seals, writes
/// through the backing are <c>pwrite</c>, wiping is a punched hole (<c>fallocate</c>, or <c>MADV_REMOVE</c> without a descriptor).
/// </summary>
/// <remarks>
/// Called only through <see cref="OsMemory"/>, on Linux. (It carries no <c>[SupportedOSPlatform("linux")]</c>: the platform
/// analyzer cannot tell that OsMemory's "not Windows" branch is Linux, which <see cref="OsPlatform"/> guarantees.)
/// </remarks>
internal static unsafe class LinuxMemory
{
    /// <summary>The seals that make a memfd's contents final: no write or new writable mapping, no resize, no more seal changes.</summary>
    private const Interop.Seals FinalSeals = Interop.Seals.FutureWrite | Interop.Seals.Grow | Interop.Seals.Shrink | Interop.Seals.Seal;

    /// <summary>The page of the pool's file left unmapped after each chunk's range (see <c>MapShared</c>).</summary>
    private static long FileGap => PageSize;

    /// <summary>RLIMIT_FSIZE as last read (long.MaxValue for unlimited), or 0 before the first read.</summary>
    private static long s_fileSizeLimit;

    /// <summary>Does process_madvise on PIDFD_SELF work? 0 not tried yet, 1 yes, -1 no.</summary>
    private static int s_processMadvise;

    /// <summary>
    /// Seals a memfd against shrinking only (a truncate and regrow through a reopened descriptor would zero protected data),
    /// for write-rare pools whose memfd is still written after Protect and the object cache's, sealed at birth. Growth
    /// stays allowed: it changes no byte already mapped, and the object cache's pool file still grows for its next chunks.
    /// </summary>
    private const Interop.Seals SizeSeals = Interop.Seals.Shrink;

    internal static OsResult TryMap(PoolBacking backing, nuint length, ChunkFlags flags, nuint prefault, out ChunkMapping? mapping)
    {
        AssertPageMultiple(length);
        mapping = null;
        bool secret = (flags & ChunkFlags.SecretMemory) != 0;
        bool guards = (flags & ChunkFlags.GuardPages) != 0;

        // memfd_secret takes no guard regions (EINVAL), so secret chunks keep the PROT_NONE reservation.
        bool install = guards && !secret && KernelFeatures.GuardInstall;
        if (secret || !TryTakeSpare(backing, length, flags, out mapping))
        {
            int vmas = guards && !install ? 3 : 1;
            OsResult budget = MappingBudget.TryReserve(vmas, length);
            if (budget.Failed)
            {
                return budget;
            }

            OsResult result = secret ? MapSecret(length, flags, out mapping) : MapShared(backing, length, flags, install, vmas, out mapping);
            if (result.Failed)
            {
                MappingBudget.Release(vmas);
                return result;
            }
        }

        // A secret chunk is committed whole already (CommitSecret), and one read-only from birth takes no write.
        if (prefault > 0 && (flags & (ChunkFlags.SecretMemory | ChunkFlags.ReadOnlyFromBirth)) == 0)
        {
            Prefault(mapping!.Start, Math.Min(RoundUpToPages(prefault), length));
        }

        return OsResult.Ok;
    }

    /// <summary>Does MADV_POPULATE_WRITE work here? 0 not tried yet, 1 yes, -1 no (before Linux 5.14).</summary>
    private static int s_populateWrite;

    /// <summary>
    /// Makes the pages of [<paramref name="start"/>, +<paramref name="length"/>) present and writable now
    /// (<c>MADV_POPULATE_WRITE</c>): the same work as the page fault of a first store, without the fault. A fault is the
    /// dearest step of a small pool's life (in a VM with shadow page tables, dearer than a system call), and the pages
    /// prefaulted are only those the caller writes at once. Best effort: if the call fails, the first store faults the page
    /// in as it always did (a lack of memory then shows the way it would have anyway).
    /// </summary>
    private static void Prefault(nint start, nuint length)
    {
        if (Volatile.Read(ref s_populateWrite) < 0)
        {
            return;
        }

        if (Interop.madvise(start, length, Interop.Advice.PopulateWrite) == 0)
        {
            Volatile.Write(ref s_populateWrite, 1);
        }
        else if (Interop.LastErrno == Interop.Errno.EINVAL && Volatile.Read(ref s_populateWrite) == 0)
        {
            // The kernel does not know the advice: do not ask again.
            Volatile.Write(ref s_populateWrite, -1);
        }
    }

    internal static OsResult TryProtect(ChunkMapping mapping, bool writable)
    {
        // Installed guard pages stay inaccessible whatever the protection (the markers survive mprotect), and protecting
        // the whole mapping keeps it one VMA instead of splitting the guards off.
        (nint start, nuint length) = mapping.AttributeRange;
        return Interop.mprotect(start, length, writable ? Interop.Prot.Read | Interop.Prot.Write : Interop.Prot.Read) == 0
            ? OsResult.Ok
            : OsResult.Fail("mprotect", writable ? "make a chunk writable" : "make a chunk read-only");
    }

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

        PoolBacking? shared = mapping.Shared;
        if (shared is not null && (final ? shared.IsWriteSealed : shared.IsSizeSealed))
        {
            // Another chunk of the same memory file sealed it already.
            return OsResult.Ok;
        }

        if (!mapping.HasBacking)
        {
            return OsResult.Fail(Interop.Errno.EBADF, "fcntl(F_ADD_SEALS)", "seal a pool's memfd");
        }

        // With no writable mapping of its own left, the pool asks for F_SEAL_WRITE too: the kernel grants it only if no
        // writable mapping of the file exists anywhere (EBUSY otherwise), so it proves none survives the seal. One that
        // does is someone else's; the file is then sealed against every later write as before, and the pool is told.
        if (final && shared is { HoldsNoWritableMapping: true })
        {
            if (Interop.fcntl(mapping.Fd, Interop.FcntlCommand.AddSeals, (int)(FinalSeals | Interop.Seals.Write)) == 0)
            {
                shared.IsSizeSealed = true;
                mapping.IsBackingSealed = true;
                return OsResult.Ok;
            }

            if (Interop.LastErrno != Interop.Errno.EBUSY)
            {
                return OsResult.Fail("fcntl(F_ADD_SEALS)", "seal a pool's memfd");
            }

            shared.WritableElsewhere = true;
        }

        if (Interop.fcntl(mapping.Fd, Interop.FcntlCommand.AddSeals, (int)(final ? FinalSeals : SizeSeals)) != 0)
        {
            return OsResult.Fail("fcntl(F_ADD_SEALS)", "seal a pool's memfd");
        }

        if (shared is not null)
        {
            shared.IsSizeSealed = true;
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

    internal static OsResult TryPunch(ChunkMapping mapping, nuint offset, nuint length)
    {
        AssertPageMultiple(length);
        System.Diagnostics.Debug.Assert(offset % (nuint)PageSize == 0 && offset + length <= mapping.Length);
        if (mapping.IsSecret || !mapping.HasBacking || mapping.IsBackingSealed)
        {
            // memfd_secret has no fallocate; a write-sealed memfd refuses holes (EPERM).
            return OsResult.Fail(mapping.IsSecret ? Interop.Errno.EOPNOTSUPP : mapping.HasBacking ? Interop.Errno.EPERM : Interop.Errno.EBADF,
                "fallocate(FALLOC_FL_PUNCH_HOLE)", $"give {length} bytes of a chunk back to the kernel");
        }

        return Interop.fallocate(mapping.Fd, Interop.FallocateMode.PunchHole | Interop.FallocateMode.KeepSize, mapping.BackingOffset + (long)offset, (long)length) == 0
            ? OsResult.Ok
            : OsResult.Fail("fallocate(FALLOC_FL_PUNCH_HOLE)", $"give {length} bytes of a chunk back to the kernel");
    }

    internal static OsResult TryRemove(ChunkMapping mapping, nuint offset, nuint length)
    {
        AssertPageMultiple(length);
        System.Diagnostics.Debug.Assert(offset % (nuint)PageSize == 0 && offset + length <= mapping.Length);
        if ((mapping.Flags & ChunkFlags.LockInMemory) != 0)
        {
            // MADV_REMOVE refuses a locked VMA (EINVAL). Unlock the whole mapping, so it stays one VMA: destroy only.
            (nint start, nuint whole) = mapping.AttributeRange;
            _ = Interop.munlock(start, whole);
        }

        return Interop.madvise(mapping.Start + (nint)offset, length, Interop.Advice.Remove) == 0
            ? OsResult.Ok
            : OsResult.Fail("madvise(MADV_REMOVE)", $"give {length} bytes of a chunk back to the kernel");
    }

    internal static bool TryPunchAll(PoolBacking backing) =>
        backing.CanPunch && backing.Size > 0
        && Interop.fallocate(backing.Fd!, Interop.FallocateMode.PunchHole | Interop.FallocateMode.KeepSize, 0, backing.Size) == 0;

    internal static void CloseBacking(ChunkMapping mapping) => mapping.Backing.Dispose();

    internal static void CloseBacking(PoolBacking backing)
    {
        DropSpare(backing);
        backing.Fd?.Dispose();
    }

    internal static void Unmap(ChunkMapping mapping, bool punch)
    {
        if (punch && TryKeepAsSpare(mapping))
        {
            return;
        }

        // munmap of a range we mapped fails only if the mapping is sealed; the caller checks that first.
        _ = Interop.munmap(mapping.ReservationStart, mapping.ReservationLength);
        MappingBudget.Release(mapping.Vmas);
        if (mapping.IsSecret)
        {
            mapping.Backing.Dispose();
        }
        else if (punch && mapping.Shared is { CanPunch: true } shared)
        {
            // After the munmap: no page table maps the range any more, so the hole costs no TLB shootdown. Punched (the
            // guard pages' ranges too), the range reads as zeros and can hold a later chunk. If the punch failed, the range
            // is not reused, and its pages go back to the kernel when the file is closed.
            if (TryPunchRange(mapping))
            {
                GiveBackRange(shared, mapping);
            }
        }
    }

    /// <summary>
    /// Keeps an emptied chunk's mapping as the pool's spare instead of unmapping it (the kernel's vmalloc keeps freed areas
    /// for a lazy purge the same way): made inaccessible first (<c>PROT_NONE</c>, so a stale pointer faults exactly as if it
    /// were unmapped), then punched out of the memory file (its pages go back to the kernel now, and it reads as zeros when
    /// it is used again). A later chunk of the same length and flags takes it with one <c>mprotect</c>, instead of an mmap,
    /// a guard install, a munmap and a punch: a pool rolled back and refilled, or a large allocation freed and made again,
    /// maps nothing. One spare per pool at most, never a locked, sealed or read-only-from-birth chunk's; dropped (unmapped)
    /// when the pool is protected and when its memory file closes.
    /// </summary>
    private static bool TryKeepAsSpare(ChunkMapping mapping)
    {
        if (mapping.Shared is not { CanPunch: true, Spare: null } shared || mapping.IsSealed
            || (mapping.Flags & (ChunkFlags.LockInMemory | ChunkFlags.ReadOnlyFromBirth)) != 0)
        {
            return false;
        }

        (nint start, nuint length) = mapping.AttributeRange;
        if (Interop.mprotect(start, length, Interop.Prot.None) != 0)
        {
            return false;
        }

        if (!TryPunchRange(mapping))
        {
            // Not kept: unmapped (and punched once more) by the caller.
            return false;
        }

        shared.Spare = mapping;
        return true;
    }

    /// <summary>Takes the pool's spare mapping for a chunk of <paramref name="length"/> bytes and <paramref name="flags"/>, if it fits exactly: made accessible again, it is a fresh chunk (zeros, guard pages in place).</summary>
    private static bool TryTakeSpare(PoolBacking backing, nuint length, ChunkFlags flags, out ChunkMapping? mapping)
    {
        mapping = null;
        if (backing.Spare is not { } spare || spare.Length != length || spare.Flags != flags || !backing.IsOpen)
        {
            return false;
        }

        (nint start, nuint span) = spare.AttributeRange;
        if (Interop.mprotect(start, span, Interop.Prot.Read | Interop.Prot.Write) != 0)
        {
            DropSpare(backing);
            return false;
        }

        backing.Spare = null;
        backing.HoldsNoWritableMapping = false;
        mapping = new ChunkMapping(spare.Fd, spare.ReservationStart, spare.ReservationLength, spare.Start, spare.Length, spare.Flags)
        {
            BackingOffset = spare.BackingOffset,
            Shared = backing,
            GuardsInstalled = spare.GuardsInstalled,
            Vmas = spare.Vmas,
        };
        return true;
    }

    /// <summary>Unmaps the pool's spare mapping, if it has one (already punched: its range of the file is free again).</summary>
    internal static void DropSpare(PoolBacking backing)
    {
        if (backing.Spare is { } spare)
        {
            backing.Spare = null;
            _ = Interop.munmap(spare.ReservationStart, spare.ReservationLength);
            MappingBudget.Release(spare.Vmas);
            GiveBackRange(backing, spare);
        }
    }

    /// <summary>The chunk's range of the pool's memory file: its installed guard pages' ranges included.</summary>
    private static (long At, long Span) FileRange(ChunkMapping mapping)
    {
        long guard = mapping.GuardsInstalled ? PageSize : 0;
        return (mapping.BackingOffset - guard, (long)mapping.Length + (2 * guard));
    }

    /// <summary>Punches the chunk's range out of the pool's memory file: it reads as zeros, and its pages go back to the kernel.</summary>
    private static bool TryPunchRange(ChunkMapping mapping)
    {
        (long at, long span) = FileRange(mapping);
        return Interop.fallocate(mapping.Fd, Interop.FallocateMode.PunchHole | Interop.FallocateMode.KeepSize, at, span) == 0;
    }

    /// <summary>Gives the punched range of an unmapped chunk back to the file's free ranges, with the gap page after it.</summary>
    private static void GiveBackRange(PoolBacking backing, ChunkMapping mapping)
    {
        (long at, long span) = FileRange(mapping);
        backing.GiveBack(at, span + FileGap);
    }

    internal static bool TryGetThreadStack(out nuint low, out nuint size)
    {
        low = size = 0;
        byte* attr = stackalloc byte[Interop.PthreadAttrBytes];
        if (Interop.pthread_getattr_np(Interop.pthread_self(), attr) != 0)
        {
            return false;
        }

        bool found = Interop.pthread_attr_getstack(attr, out nint address, out nuint length) == 0 && address != 0 && length != 0;
        _ = Interop.pthread_attr_destroy(attr);
        if (found)
        {
            low = (nuint)address;
            size = length;
        }

        return found;
    }

    internal static string DescriptorLimit() =>
        Interop.getrlimit(Interop.Resource.NoFile, out Interop.RLimit limit) != 0 ? "unknown"
        : limit.Current == ulong.MaxValue ? "unlimited"
        : $"{limit.Current}";

    internal static string LockedMemoryLimit() =>
        Interop.getrlimit(Interop.Resource.MemLock, out Interop.RLimit limit) != 0 ? "unknown"
        : limit.Current == ulong.MaxValue ? "unlimited"
        : $"{limit.Current} bytes";

    internal static bool IsLockedMemoryLimit(OsResult result) =>
        (result.Call is "mlock2" or "mmap(memfd_secret)" && result.Errno is Interop.Errno.ENOMEM or Interop.Errno.EPERM or Interop.Errno.EAGAIN)
        || (result.Call == CommitSecretCall && result.Errno is Interop.Errno.EFAULT or Interop.Errno.ENOMEM);

    internal static OsErrorKind KindOf(OsResult result) => result.Errno switch
    {
        Interop.Errno.ENOMEM => OsErrorKind.OutOfMemory,
        Interop.Errno.ENOSYS => OsErrorKind.NotSupported,
        Interop.Errno.EPERM or Interop.Errno.EACCES => OsErrorKind.Denied,
        _ => OsErrorKind.Other,
    };

    /// <summary>
    /// Maps the next range of the pool's memory file, opening it for the pool's first chunk: grows the file, maps the
    /// range (guard + chunk + guard as one VMA where guard pages are installed, else the chunk over the middle of a
    /// PROT_NONE reservation), and hardens it. Undoes everything on failure, the file's growth and a descriptor opened here included.
    /// </summary>
    private static OsResult MapShared(PoolBacking backing, nuint length, ChunkFlags flags, bool install, int vmas, out ChunkMapping? mapping)
    {
        mapping = null;
        bool opened = false;
        if (backing.Fd is null)
        {
            SafeFdHandle created = Interop.memfd_create(BackingPrefix, backing.Name, Interop.MemfdFlags.CloseOnExec | Interop.MemfdFlags.AllowSealing);
            if (created.IsInvalid)
            {
                OsResult failed = OsResult.Fail("memfd_create", $"create the memfd of a pool for a chunk of {length} bytes");
                created.Dispose();
                return failed;
            }

            backing.Fd = created;
            opened = true;
        }
        else if (!backing.IsOpen)
        {
            return OsResult.Fail(Interop.Errno.EBADF, "mmap", $"map a chunk of {length} bytes (the pool's memfd is closed)");
        }

        SafeFdHandle fd = backing.Fd;
        nuint page = (nuint)PageSize;
        nuint guard = install ? page : 0;
        nuint span = checked(length + (2 * guard));

        // The chunk's range of the file, and one page after it that is never mapped: two chunks can then never be
        // neighbours in the file, so the kernel never merges their mappings into one VMA (one VMA per chunk, exactly).
        long footprint = checked((long)span + FileGap);

        // A range an unmapped chunk left (punched: it reads as zeros), else a new one after the last, growing the file ahead.
        bool reused = backing.TryTakeFree(footprint, out long at);
        long fileSize = backing.FileSize;
        OsResult result = OsResult.Ok;
        if (!reused)
        {
            at = backing.Size;
            result = TryGrow(backing, checked(at + footprint));
        }

        Interop.Prot protection = (flags & ChunkFlags.ReadOnlyFromBirth) != 0 ? Interop.Prot.Read : Interop.Prot.Read | Interop.Prot.Write;
        nint reservation = 0, start = 0;
        nuint reservationLength = 0;
        if (!result.Failed)
        {
            if (install)
            {
                // One mapping of guard + chunk + guard; the guard pages' ranges of the file are never touched.
                reservation = Interop.mmap(0, span, protection, Interop.MapFlags.Shared, fd, at);
                if (reservation == Interop.MapFailed)
                {
                    reservation = 0;
                    result = OsResult.Fail("mmap", $"map a chunk of {length} bytes");
                }
                else
                {
                    reservationLength = span;
                    start = reservation + (nint)page;
                    result = InstallGuards(reservation, start + (nint)length, length);
                }
            }
            else
            {
                result = MapReserved(fd, at, length, flags, protection, "mmap", ref reservation, ref reservationLength, out start);
            }
        }

        ChunkMapping? made = null;
        if (!result.Failed)
        {
            made = new ChunkMapping(fd, reservation, reservationLength, start, length, flags)
            {
                BackingOffset = at + (long)guard,
                Shared = backing,
                GuardsInstalled = install,
                Vmas = vmas,
            };
            result = Harden(made);
        }

        if (result.Failed)
        {
            if (reservation != 0)
            {
                _ = Interop.munmap(reservation, reservationLength);
            }

            if (opened)
            {
                fd.Dispose();
                backing.Fd = null;
                backing.FileSize = 0;
            }
            else if (reused)
            {
                backing.GiveBack(at, footprint);
            }
            else if (backing.FileSize != fileSize)
            {
                // Give the file its size back: nothing of it beyond the old size is mapped.
                _ = Interop.ftruncate(fd, fileSize);
                backing.FileSize = fileSize;
            }

            return result;
        }

        if (!reused)
        {
            backing.Size = at + footprint;
        }

        // A new chunk's mapping was made from the writable descriptor: the pool holds a mapping that could be made writable.
        backing.HoldsNoWritableMapping = false;
        mapping = made;
        return OsResult.Ok;
    }

    /// <summary>
    /// Makes the pool's file at least <paramref name="size"/> bytes, doubling it ahead (a sparse file costs nothing for its
    /// size), but never past RLIMIT_FSIZE: there the kernel would kill the process with SIGXFSZ instead of failing the call.
    /// </summary>
    private static OsResult TryGrow(PoolBacking backing, long size)
    {
        if (size <= backing.FileSize)
        {
            return OsResult.Ok;
        }

        long target = Math.Max(size, Math.Min(Math.Max(backing.FileSize * 2, 1L << 20), size + (1L << 30)));

        // RLIMIT_FSIZE is read once per process (almost always unlimited), and again before a growth past what it was.
        long limit = Volatile.Read(ref s_fileSizeLimit);
        if (limit == 0 || target > limit)
        {
            limit = Interop.getrlimit(Interop.Resource.FileSize, out Interop.RLimit rlimit) == 0 && rlimit.Current < (ulong)long.MaxValue
                ? Math.Max(1, (long)rlimit.Current)
                : long.MaxValue;
            Volatile.Write(ref s_fileSizeLimit, limit);
        }

        if (size > limit)
        {
            return OsResult.Fail(Interop.Errno.EFBIG, "ftruncate", $"grow a pool's memfd to {size} bytes (RLIMIT_FSIZE is {limit}; see 'ulimit -f')");
        }

        target = Math.Min(target, limit);

        if (Interop.ftruncate(backing.Fd!, target) != 0)
        {
            return OsResult.Fail("ftruncate", $"grow a pool's memfd to {target} bytes");
        }

        backing.FileSize = target;
        return OsResult.Ok;
    }

    /// <summary>
    /// Installs the guard pages at <paramref name="low"/> and <paramref name="high"/> (one page each) in one call
    /// (<c>process_madvise</c> on PIDFD_SELF, Linux 6.14), or two <c>madvise</c> calls where that is missing. Installing is
    /// idempotent, so a partial first attempt is simply done again.
    /// </summary>
    private static OsResult InstallGuards(nint low, nint high, nuint length)
    {
        nuint page = (nuint)PageSize;
        if (Volatile.Read(ref s_processMadvise) >= 0)
        {
            Interop.IoVec* ranges = stackalloc Interop.IoVec[2];
            ranges[0] = new Interop.IoVec { Base = (void*)low, Length = page };
            ranges[1] = new Interop.IoVec { Base = (void*)high, Length = page };
            nint done = Interop.process_madvise(Interop.PidfdSelf, ranges, 2, Interop.Advice.GuardInstall);
            if (done == (nint)(2 * page))
            {
                Volatile.Write(ref s_processMadvise, 1);
                return OsResult.Ok;
            }

            if (done < 0 && Volatile.Read(ref s_processMadvise) == 0)
            {
                // Not on this kernel (ENOSYS, or EBADF/EINVAL for PIDFD_SELF or the advice): madvise from now on.
                Volatile.Write(ref s_processMadvise, -1);
            }
        }

        return Interop.madvise(low, page, Interop.Advice.GuardInstall) == 0 && Interop.madvise(high, page, Interop.Advice.GuardInstall) == 0
            ? OsResult.Ok
            : OsResult.Fail("madvise(MADV_GUARD_INSTALL)", $"install the guard pages of a chunk of {length} bytes");
    }

    /// <summary>A secret chunk: a memfd_secret of its own (it can be sized only once), in a PROT_NONE reservation.</summary>
    private static OsResult MapSecret(nuint length, ChunkFlags flags, out ChunkMapping? mapping)
    {
        mapping = null;
        SafeFdHandle fd = Interop.memfd_secret(Interop.OCloseOnExec);
        if (fd.IsInvalid)
        {
            OsResult failed = OsResult.Fail("memfd_secret", $"create a chunk of {length} bytes");
            fd.Dispose();
            return failed;
        }

        Interop.Prot protection = (flags & ChunkFlags.ReadOnlyFromBirth) != 0 ? Interop.Prot.Read : Interop.Prot.Read | Interop.Prot.Write;
        nint reservation = 0;
        nuint reservationLength = 0;
        nint start = 0;
        OsResult result = Interop.ftruncate(fd, checked((long)length)) == 0
            ? MapReserved(fd, 0, length, flags, protection, "mmap(memfd_secret)", ref reservation, ref reservationLength, out start)
            : OsResult.Fail("ftruncate", $"size a chunk of {length} bytes");
        if (!result.Failed && protection != Interop.Prot.Read)
        {
            result = CommitSecret(start, length);
        }

        // memfd_secret pages are locked and left out of dumps by the kernel itself (VM_LOCKED | VM_DONTDUMP), and mlock on
        // them fails: forks are all there is left to harden.
        if (!result.Failed)
        {
            result = KeepFromForks(start, length);
        }

        if (result.Failed)
        {
            if (reservation != 0)
            {
                _ = Interop.munmap(reservation, reservationLength);
            }

            fd.Dispose();
            return result;
        }

        mapping = new ChunkMapping(fd, reservation, reservationLength, start, length, flags) { Vmas = reservationLength == length ? 1 : 3 };
        return OsResult.Ok;
    }

    /// <summary>
    /// Commits every page of a fresh secret chunk now, by having the kernel copy zeros into it (a <c>read</c> of
    /// <c>/dev/zero</c>). Newer kernels (Debian 13's 6.12, and 6.18.52+) charge a secret page to RLIMIT_MEMLOCK when it
    /// is first touched, and a touch past the limit is a <c>SIGBUS</c> that kills the process; a copy made by the kernel
    /// fails with <c>EFAULT</c> instead. So the refusal comes here, as an exception naming the limit, and never at the
    /// caller's first store. (Older kernels charged the whole mapping at <c>mmap</c>: the same pages, counted at once.)
    /// </summary>
    private static OsResult CommitSecret(nint start, nuint length)
    {
        int zero;
        fixed (byte* path = "/dev/zero\0"u8)
        {
            zero = Interop.open(path, Interop.OReadOnly | Interop.OCloseOnExec);
        }

        if (zero < 0)
        {
            // No /dev/zero (a sandbox without /dev): the pages are committed by the first stores instead, as the kernel does.
            return OsResult.Ok;
        }

        OsResult result = OsResult.Ok;
        for (nuint done = 0; done < length;)
        {
            nint read = Interop.read(zero, (byte*)(start + (nint)done), length - done);
            if (read > 0)
            {
                done += (nuint)read;
            }
            else if (read == 0 || Interop.LastErrno != Interop.Errno.EINTR)
            {
                result = OsResult.Fail(read == 0 ? Interop.Errno.EFAULT : Interop.LastErrno, CommitSecretCall, $"commit a secret chunk of {length} bytes ({done} committed)");
                break;
            }
        }

        _ = Interop.close(zero);
        return result;
    }

    /// <summary>The call <see cref="CommitSecret"/> names when a page of secret memory cannot be had.</summary>
    private const string CommitSecretCall = "read(/dev/zero) into memfd_secret";

    /// <summary>
    /// Maps [<paramref name="offset"/>, +<paramref name="length"/>) of <paramref name="fd"/>: with guard pages, over the
    /// middle of an inaccessible anonymous reservation of guard + chunk + guard ("---p" neighbours in /proc/PID/maps).
    /// </summary>
    private static OsResult MapReserved(SafeFdHandle fd, long offset, nuint length, ChunkFlags flags, Interop.Prot protection, string mmapCall,
        ref nint reservation, ref nuint reservationLength, out nint start)
    {
        start = 0;
        if ((flags & ChunkFlags.GuardPages) != 0)
        {
            nuint total = checked(length + (2 * (nuint)PageSize));
            nint region = Interop.mmap(0, total, Interop.Prot.None, Interop.MapFlags.Private | Interop.MapFlags.Anonymous | Interop.MapFlags.NoReserve);
            if (region == Interop.MapFailed)
            {
                return OsResult.Fail("mmap", $"reserve {total} bytes");
            }

            reservation = region;
            reservationLength = total;
            start = Interop.mmap(region + PageSize, length, protection, Interop.MapFlags.Shared | Interop.MapFlags.Fixed, fd, offset);
        }
        else
        {
            start = Interop.mmap(0, length, protection, Interop.MapFlags.Shared, fd, offset);
            if (start != Interop.MapFailed)
            {
                reservation = start;
                reservationLength = length;
            }
        }

        if (start == Interop.MapFailed)
        {
            start = 0;
            return OsResult.Fail(mmapCall, $"map a chunk of {length} bytes");
        }

        return OsResult.Ok;
    }

    /// <summary>
    /// Maps every chunk of the pool's memory file again, over the same ranges and the same pages, from a read-only
    /// descriptor of the file (reopened through <c>/proc/self/fd</c>), and makes each one's guard pages, fork exclusion, lock
    /// and dump exclusion again: the pool is then left holding no mapping that could ever be made writable (no
    /// <c>VM_MAYWRITE</c>). The pool is marked so only when every chunk is done: a failure leaves the chunks done so far read-only
    /// (as all are), and the pool unmarked, so its final seal is the one it always was.
    /// </summary>
    internal static OsResult TryDropWriteAccess(PoolBacking backing, IReadOnlyList<ChunkMapping> mappings)
    {
        if (backing.Fd is not { IsClosed: false } fd)
        {
            return OsResult.Fail(Interop.Errno.EBADF, "open(/proc/self/fd)", "reopen a pool's memfd read-only");
        }

        // The spare is a mapping of the file from the writable descriptor too (Protect has dropped it already).
        DropSpare(backing);

        SafeFdHandle readOnly;
        bool added = false;
        try
        {
            fd.DangerousAddRef(ref added);
            byte* path = stackalloc byte[32];
            int length = 0;
            _ = System.Text.Encoding.ASCII.TryGetBytes($"/proc/self/fd/{(int)fd.DangerousGetHandle()}", new Span<byte>(path, 31), out length);
            path[length] = 0;
            readOnly = new SafeFdHandle(Interop.open(path, Interop.OReadOnly | Interop.OCloseOnExec));
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }

        using (readOnly)
        {
            if (readOnly.IsInvalid)
            {
                return OsResult.Fail("open(/proc/self/fd)", "reopen a pool's memfd read-only");
            }

            foreach (ChunkMapping mapping in mappings)
            {
                OsResult result = RemapReadOnly(mapping, readOnly);
                if (result.Failed)
                {
                    return result;
                }
            }
        }

        backing.HoldsNoWritableMapping = true;
        return OsResult.Ok;
    }

    /// <summary>
    /// One chunk of <see cref="TryDropWriteAccess"/>: <c>mmap(MAP_FIXED)</c> of the same file range from
    /// <paramref name="readOnly"/> replaces the mapping in one call (the pages stay in the file, so nothing is lost, and a
    /// read in another thread meanwhile finds one mapping or the other), then the VMA's attributes are made again. A
    /// locked chunk (locked on fault) has the pages it had resident read once through the new mapping, which locks them
    /// again; pages never touched stay uncommitted.
    /// </summary>
    private static OsResult RemapReadOnly(ChunkMapping mapping, SafeFdHandle readOnly)
    {
        nuint page = (nuint)PageSize;
        (nint at, nuint length) = mapping.AttributeRange;
        long offset = mapping.GuardsInstalled ? mapping.BackingOffset - (long)page : mapping.BackingOffset;
        bool locked = (mapping.Flags & ChunkFlags.LockInMemory) != 0;
        nuint pages = mapping.Length / page;
        byte[]? resident = locked ? new byte[pages] : null;
        if (resident is not null)
        {
            fixed (byte* vector = resident)
            {
                if (Interop.mincore(mapping.Start, mapping.Length, vector) != 0)
                {
                    return OsResult.Fail("mincore", $"find the resident pages of a locked chunk of {mapping.Length} bytes");
                }
            }
        }

        // On failure, a kernel before 6.12 may have unmapped the old range by then: map it again as it was (read-only), and
        // tell the caller of the first failure. Either way the new VMA's attributes are made again.
        OsResult remapped = Interop.mmap(at, length, Interop.Prot.Read, Interop.MapFlags.Shared | Interop.MapFlags.Fixed, readOnly, offset) == at
            ? OsResult.Ok
            : OsResult.Fail("mmap(MAP_FIXED)", $"map a chunk of {mapping.Length} bytes again read-only");
        if (remapped.Failed && Interop.mmap(at, length, Interop.Prot.Read, Interop.MapFlags.Shared | Interop.MapFlags.Fixed, mapping.Fd, offset) != at)
        {
            return remapped;
        }

        OsResult result = mapping.GuardsInstalled ? InstallGuards(at, mapping.Start + (nint)mapping.Length, mapping.Length) : OsResult.Ok;
        result = result.Failed ? result : Harden(mapping);
        result = remapped.Failed ? remapped : result;
        if (!result.Failed && resident is not null)
        {
            for (nuint i = 0; i < pages; i++)
            {
                if ((resident[i] & 1) != 0)
                {
                    _ = Volatile.Read(ref *(byte*)(mapping.Start + (nint)(i * page)));
                }
            }
        }

        return result;
    }

    /// <summary>
    /// Leaves a chunk out of every child this process forks (<c>MADV_DONTFORK</c>). A pool's chunks are <c>MAP_SHARED</c>
    /// mappings of its memfd, and a shared mapping is inherited as such: without this, a child forked while the pool was
    /// writable keeps a writable mapping of the same pages after the parent's <c>Protect</c>, and any child can
    /// <c>mprotect</c> its copy writable again. In the child the range is simply not mapped. (.NET starts processes with
    /// vfork and exec, which inherit nothing; this is for native code that forks without exec.)
    /// </summary>
    private static OsResult KeepFromForks(nint start, nuint length) =>
        Interop.madvise(start, length, Interop.Advice.DontFork) == 0
            ? OsResult.Ok
            : OsResult.Fail("madvise(MADV_DONTFORK)", $"keep a chunk of {length} bytes out of forked children");

    /// <summary>
    /// Keeps the whole mapping where it is one VMA (so it is not split) out of forked children, and locks and excludes it
    /// from dumps as the flags ask.
    /// </summary>
    private static OsResult Harden(ChunkMapping mapping)
    {
        (nint start, nuint length) = mapping.AttributeRange;
        OsResult kept = KeepFromForks(start, length);
        if (kept.Failed)
        {
            return kept;
        }

        if ((mapping.Flags & ChunkFlags.LockInMemory) != 0 && Interop.mlock2(start, length, Interop.MlockFlags.OnFault) != 0)
        {
            return OsResult.Fail("mlock2", $"lock a chunk of {mapping.Length} bytes in memory");
        }

        if ((mapping.Flags & ChunkFlags.ExcludeFromCoreDumps) != 0 && Interop.madvise(start, length, Interop.Advice.DontDump) != 0)
        {
            return OsResult.Fail("madvise(MADV_DONTDUMP)", $"exclude a chunk of {mapping.Length} bytes from core dumps");
        }

        return OsResult.Ok;
    }
}
