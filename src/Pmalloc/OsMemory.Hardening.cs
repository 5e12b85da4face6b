using System.Diagnostics.CodeAnalysis;

namespace Pmalloc;

/// <summary>How a chunk is mapped and hardened (the OS layer's view of the pool's options).</summary>
[Flags]
internal enum ChunkFlags
{
    None = 0,

    /// <summary>A PROT_NONE page on each side of the chunk.</summary>
    GuardPages = 1,

    /// <summary><c>mlock2(MLOCK_ONFAULT)</c>: pages stay in RAM once touched, never swapped.</summary>
    LockInMemory = 2,

    /// <summary><c>MADV_DONTDUMP</c>: left out of core dumps.</summary>
    ExcludeFromCoreDumps = 4,

    /// <summary>Backed by <c>memfd_secret</c> instead of <c>memfd_create</c>; implies locked and excluded from dumps.</summary>
    SecretMemory = 8,
}

/// <summary>The sealing state of one chunk mapping.</summary>
internal sealed partial class ChunkMapping
{
    /// <summary>How the chunk was mapped.</summary>
    internal ChunkFlags Flags { get; }

    /// <summary>Backed by <c>memfd_secret</c>.</summary>
    internal bool IsSecret => (Flags & ChunkFlags.SecretMemory) != 0;

    /// <summary>The whole reservation is <c>mseal</c>ed: it can never be unmapped, remapped or made writable again.</summary>
    internal bool IsSealed { get; set; }

    /// <summary>The backing can no longer be written: memfd <c>F_SEAL_FUTURE_WRITE</c>, or the secret fd closed.</summary>
    internal bool IsBackingSealed { get; set; }
}

/// <summary>The OS layer's hardening steps: secret backing, lock, dump exclusion, and sealing.</summary>
internal static partial class OsMemory
{
    /// <summary>The seals that make a memfd's contents final: no write or new writable mapping, no resize, no more seal changes.</summary>
    internal const Interop.Seals FinalSeals = Interop.Seals.FutureWrite | Interop.Seals.Grow | Interop.Seals.Shrink | Interop.Seals.Seal;

    /// <summary>Seals a memfd's size only, for write-rare pools whose memfd is still written after Protect.</summary>
    internal const Interop.Seals SizeSeals = Interop.Seals.Grow | Interop.Seals.Shrink;

    /// <summary>
    /// Seals the whole reservation of <paramref name="mapping"/>, guard pages included, with <c>mseal</c>.
    /// Returns errno, or 0. Irreversible: afterwards the mapping can be neither unmapped nor wiped.
    /// </summary>
    internal static int TrySealMapping(ChunkMapping mapping)
    {
        if (Interop.mseal(mapping.ReservationStart, mapping.ReservationLength) != 0)
        {
            return Interop.LastErrno;
        }

        mapping.IsSealed = true;
        return 0;
    }

    /// <summary>
    /// Adds <paramref name="seals"/> to the chunk's memfd; with <see cref="Interop.Seals.FutureWrite"/> the
    /// backing is final. A <c>memfd_secret</c> cannot carry seals (EINVAL), and cannot be reopened through
    /// <c>/proc</c> (ENXIO): closing its only fd is its seal. Returns errno, or 0.
    /// </summary>
    internal static int TrySealBacking(ChunkMapping mapping, Interop.Seals seals)
    {
        bool final = (seals & Interop.Seals.FutureWrite) != 0;
        if (mapping.IsSecret)
        {
            if (final)
            {
                mapping.CloseFd();
                mapping.IsBackingSealed = true;
            }

            return 0;
        }

        if (mapping.Fd < 0 || Interop.fcntl(mapping.Fd, Interop.FcntlCommand.AddSeals, (int)seals) != 0)
        {
            return mapping.Fd < 0 ? Interop.Errno.EBADF : Interop.LastErrno;
        }

        mapping.IsBackingSealed |= final;
        return 0;
    }

    /// <summary>The fd behind a new chunk: a named memfd that allows sealing, or a <c>memfd_secret</c>.</summary>
    private static int CreateBacking(string poolName, nuint length, ChunkFlags flags)
    {
        bool secret = (flags & ChunkFlags.SecretMemory) != 0;
        int fd = secret
            ? Interop.memfd_secret(Interop.OCloseOnExec)
            : Interop.memfd_create(MemfdName(poolName), Interop.MemfdFlags.CloseOnExec | Interop.MemfdFlags.AllowSealing);
        if (fd < 0)
        {
            Interop.ThrowLastError(secret ? "memfd_secret" : "memfd_create", $"Pool '{poolName}': cannot create a chunk of {length} bytes");
        }

        return fd;
    }

    /// <summary>Locks the chunk and leaves it out of core dumps, as its flags ask. Throws on failure; the caller unmaps.</summary>
    private static void Harden(string poolName, ChunkMapping mapping)
    {
        // memfd_secret pages are locked and left out of dumps by the kernel itself (VM_LOCKED | VM_DONTDUMP),
        // and mlock on them fails: nothing to do.
        if (mapping.IsSecret)
        {
            return;
        }

        if ((mapping.Flags & ChunkFlags.LockInMemory) != 0
            && Interop.mlock2(mapping.Start, mapping.Length, Interop.MlockFlags.OnFault) != 0)
        {
            throw MemlockError(poolName, mapping.Length, "mlock2", Interop.LastErrno);
        }

        if ((mapping.Flags & ChunkFlags.ExcludeFromCoreDumps) != 0
            && Interop.madvise(mapping.Start, mapping.Length, Interop.Advice.DontDump) != 0)
        {
            Interop.ThrowLastError("madvise(MADV_DONTDUMP)", $"Pool '{poolName}': cannot exclude a chunk of {mapping.Length} bytes from core dumps");
        }
    }

    [DoesNotReturn]
    private static void ThrowMapFailed(string poolName, nuint length, ChunkFlags flags)
    {
        int errno = Interop.LastErrno;

        // A secret mapping is locked memory: over RLIMIT_MEMLOCK its mmap fails with EAGAIN.
        if ((flags & ChunkFlags.SecretMemory) != 0 && errno is Interop.Errno.EAGAIN or Interop.Errno.EPERM)
        {
            throw MemlockError(poolName, length, "mmap(memfd_secret)", errno);
        }

        throw Interop.ErrorFor(errno, "mmap", $"Pool '{poolName}': cannot map a chunk of {length} bytes");
    }

    /// <summary>The error for locked memory over the limit: names RLIMIT_MEMLOCK, its value, and how to raise it.</summary>
    private static Exception MemlockError(string poolName, nuint length, string call, int errno)
    {
        if (errno is not (Interop.Errno.ENOMEM or Interop.Errno.EPERM or Interop.Errno.EAGAIN))
        {
            return Interop.ErrorFor(errno, call, $"Pool '{poolName}': cannot lock a chunk of {length} bytes in memory");
        }

        string limit = Interop.getrlimit(Interop.Resource.MemLock, out Interop.RLimit rlimit) != 0 ? "unknown"
            : rlimit.Current == ulong.MaxValue ? "unlimited"
            : $"{rlimit.Current} bytes";
        return new InsufficientMemoryException(
            $"Pool '{poolName}': cannot lock a chunk of {length} bytes in memory: {call} failed with {Interop.ErrnoName(errno)}, " +
            $"which means the process would exceed RLIMIT_MEMLOCK (now {limit}; see 'ulimit -l', LimitMEMLOCK= in systemd, or grant CAP_IPC_LOCK). " +
            "Raise the limit, or make the pool smaller, or turn LockInMemory off.");
    }
}
