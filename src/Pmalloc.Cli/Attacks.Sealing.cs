using System.Runtime.InteropServices;
using Pmalloc.Bench.Native;

namespace Pmalloc.Cli;

/// <summary>
/// The usercopy, sealing and secrets cases. A sealed pool's cases try to undo the protection with the
/// system calls an attacker who can call them would use; each either is refused by the kernel (and the case
/// checks the data is intact before it reports "refused"), or, if the kernel let it through, goes on to
/// change the data and reports that it survived, so a weaker kernel shows up as NotBlocked, not as a pass.
/// Chunks and their memfds are found through /proc (<see cref="ProcSelf"/>), as an attacker in the process finds them.
/// </summary>
internal static unsafe partial class Attacks
{
    /// <summary>The value every case's pool holds, checked after each refused attempt.</summary>
    private const long Secret = 0x5EC12E7;

    static partial void AddSealingCases(Action<Attack> add)
    {
        // Sealing, memfds, /proc and libc are Linux's: every case here but check-write-protected is Linux-only.
        void linuxOnly(Attack attack) => add(attack with { LinuxOnly = true });
        linuxOnly(new("sealed-mprotect", "mprotect(PROT_WRITE) on a sealed chunk, then write", Outcome.Refused, () =>
            Bypass("mprotect", (p, m, fd) => Libc.mprotect(m.Start, m.Length, Libc.Prot.Read | Libc.Prot.Write) == 0,
                p => *(long*)p = 0x0BAD)));
        linuxOnly(new("sealed-munmap", "munmap a sealed chunk, map fresh writable memory in its place", Outcome.Refused, () =>
            Bypass("munmap", (p, m, fd) => Libc.munmap(m.Start, m.Length) == 0,
                p => ReplaceWithWritable(p))));
        linuxOnly(new("sealed-mremap", "mremap a sealed chunk elsewhere, map writable memory in its place", Outcome.Refused, () =>
            Bypass("mremap", (p, m, fd) => Libc.mremap(m.Start, m.Length, m.Length, Libc.MremapFlags.MayMove, 0) != Libc.MapFailed,
                p => ReplaceWithWritable(p))));
        linuxOnly(new("sealed-mmap-fixed", "mmap(MAP_FIXED) writable memory over a sealed chunk", Outcome.Refused, () =>
            Bypass("mmap(MAP_FIXED)", (p, m, fd) => Libc.mmap(m.Start, m.Length, Libc.Prot.Read | Libc.Prot.Write,
                    Libc.MapFlags.Private | Libc.MapFlags.Anonymous | Libc.MapFlags.Fixed, -1, 0) != Libc.MapFailed,
                p => *(long*)p = 0x0BAD)));
        linuxOnly(new("sealed-proc-fd-mmap", "writable mmap of the memfd reopened through /proc/self/fd/N", Outcome.Refused, () =>
            Bypass("mmap(/proc/self/fd)", (p, m, fd) => fd >= 0
                ? MapWritableAlias($"/proc/self/fd/{fd}", p, m)
                : throw new UnauthorizedAccessException("refused: a protected write-once pool holds no descriptor, so /proc/self/fd has nothing of it to reopen"), null)));
        linuxOnly(new("sealed-map-files-mmap", "writable mmap of the chunk reopened through /proc/self/map_files", Outcome.Refused, () =>
            Bypass("mmap(/proc/self/map_files)", (p, m, fd) => MapWritableAlias(m.MapFilesPath, p, m), null)));
        linuxOnly(new("sealed-pwrite", "pwrite to a sealed chunk's memfd (reopened through /proc/self/map_files: the pool holds none)", Outcome.Refused, () =>
            Bypass("pwrite", (p, m, fd) =>
            {
                long evil = 0x0BAD;
                int file = fd >= 0 ? fd : Libc.open(m.MapFilesPath, Libc.OpenFlags.ReadWrite | Libc.OpenFlags.CloseOnExec);
                return file >= 0 && Libc.pwrite(file, &evil, sizeof(long), m.FileOffsetOf(p)) == sizeof(long);
            }, null)));
        linuxOnly(new("sealed-madvise-dontneed", "madvise(MADV_DONTNEED) to drop a sealed chunk's pages", Outcome.Refused, () =>
        {
            using WriteOncePool pool = SealedSecret(out nint p, out PoolMapping m);
            Ready();
            int result = Libc.madvise(m.Start, m.Length, Libc.Advice.DontNeed);
            int errno = Libc.LastErrno;
            RequireIntact(p, "madvise(MADV_DONTNEED)");

            // Shared memfd pages live in the memfd, not in the mapping: dropping the mapping's pages loses nothing.
            throw result == 0
                ? new InvalidOperationException("madvise(MADV_DONTNEED) returned 0 but dropped nothing: the memfd keeps the data, which is intact.")
                : Libc.ErrorFor(errno, "madvise(MADV_DONTNEED)", "refused on a sealed chunk; the data is intact");
        }));
        linuxOnly(new("unsealed-proc-fd-pwrite", "pwrite through the memfd reopened by /proc/self/map_files, to a protected but unsealed pool (why Seal exists)", Outcome.NotBlocked, () =>
        {
            // The pool holds no descriptor after Protect; the mapping itself still reopens the memfd (with CAP_SYS_ADMIN).
            using WriteOncePool pool = ProtectedSecret(out nint p);
            PoolMapping m = ProcSelf.ChunkAt(pool.Name, p);
            int fd = Libc.open(m.MapFilesPath, Libc.OpenFlags.ReadWrite | Libc.OpenFlags.CloseOnExec);
            Ready();
            long evil = 0x0BAD;
            if (fd < 0 || Libc.pwrite(fd, &evil, sizeof(long), m.FileOffsetOf(p)) != sizeof(long))
            {
                throw Libc.ErrorFor(Libc.LastErrno, "pwrite(/proc/self/map_files)", "refused");
            }

            Console.WriteLine($"the protected value is now 0x{*(long*)p:x}");
        }));
        linuxOnly(new("sealed-proc-self-mem", "write a sealed chunk through /proc/self/mem", Outcome.Refused, () =>
        {
            using WriteOncePool pool = SealedSecret(out nint p, out _);
            ProcSelfMemWrite(p);
        }));
        linuxOnly(new("unsealed-proc-self-mem", "write a protected, unsealed chunk through /proc/self/mem", Outcome.Refused, () =>
        {
            using WriteOncePool pool = ProtectedSecret(out nint p);
            ProcSelfMemWrite(p);
        }));
        add(new("check-write-protected", "ProtectedMemory.CheckWrite on protected memory", Outcome.Refused, () =>
        {
            using WriteOncePool pool = ProtectedSecret(out nint p);
            Ready();
            ProtectedMemory.CheckWrite(p, sizeof(long));
        }));
        linuxOnly(new("libc-memset", "libc memset into protected memory (a fault in native code)", Outcome.Segfault, () =>
        {
            using WriteOncePool pool = ProtectedSecret(out nint p);
            Ready();
            Libc.memset(p, 0x42, sizeof(long));
        }));
        linuxOnly(new("secret-write-pointer", "write through a pointer into a protected memfd_secret pool", Outcome.AccessViolation, () =>
        {
            using WriteOncePool pool = new(new PoolOptions { Name = "attack-secret", SecretMemory = true });
            nint p = pool.Allocate(sizeof(long));
            *(long*)p = Secret;
            pool.Protect();
            Ready();
            *(long*)p = 0x0BAD;
        }));
        linuxOnly(new("secret-proc-self-mem-read", "read a memfd_secret pool through /proc/self/mem", Outcome.Refused, () =>
        {
            using WriteOncePool pool = new(new PoolOptions { Name = "attack-secret", SecretMemory = true });
            nint p = pool.Allocate(sizeof(long));
            *(long*)p = Secret;
            pool.Protect();
            using Microsoft.Win32.SafeHandles.SafeFileHandle mem = File.OpenHandle("/proc/self/mem", FileMode.Open, FileAccess.Read);
            byte[] stolen = new byte[sizeof(long)];
            Ready();
            RandomAccess.Read(mem, stolen, p);
            Console.WriteLine($"read 0x{BitConverter.ToInt64(stolen):x} from secret memory");
        }));
        linuxOnly(new("lock-over-memlock-limit", "LockInMemory past RLIMIT_MEMLOCK (without CAP_IPC_LOCK)", Outcome.Refused, () =>
        {
            // Give up CAP_IPC_LOCK (which ignores the limit) and lower the limit, for this process only.
            DropIpcLock();
            Libc.RLimit limit = new() { Current = 64 * 1024, Maximum = 64 * 1024 };
            if (Libc.setrlimit(Libc.Resource.MemLock, in limit) != 0)
            {
                throw new InvalidOperationException("setup: setrlimit(RLIMIT_MEMLOCK) failed");
            }

            using WriteOncePool pool = new(new PoolOptions { Name = "attack-mlock", LockInMemory = true, ChunkSize = 1 << 20 });
            PoolStatistics before = pool.Statistics;
            int maps = PoolMappings();
            Ready();
            try
            {
                pool.Allocate(16);
            }
            catch (InsufficientMemoryException e)
            {
                // Report it as a refusal the runner knows, once the pool is unchanged and nothing is left mapped.
                string unchanged = pool.Statistics == before && PoolMappings() == maps ? "pool unchanged, nothing left mapped" : "BUT THE POOL CHANGED";
                throw new InvalidOperationException($"{e.GetType().Name}: {e.Message} ({unchanged})", e);
            }
        }));
    }

    /// <summary>
    /// Builds a sealed pool, finds its chunk and the chunk's memfd through /proc, tries <paramref name="attempt"/>; if the
    /// kernel refuses, checks the data and reports the refusal; if it succeeds, writes with <paramref name="write"/> (when
    /// given) and survives.
    /// </summary>
    private static void Bypass(string call, Func<nint, PoolMapping, int, bool> attempt, Action<nint>? write)
    {
        using WriteOncePool pool = SealedSecret(out nint p, out PoolMapping mapping);
        int fd = ProcSelf.FdOf(mapping);
        Ready();
        if (!attempt(p, mapping, fd))
        {
            int errno = Libc.LastErrno;
            RequireIntact(p, call);
            throw Libc.ErrorFor(errno, call, $"refused on a sealed chunk at 0x{mapping.Start:x}; the data is intact");
        }

        write?.Invoke(p);
        Console.WriteLine($"{call} went through; the protected value is now 0x{*(long*)p:x}");
    }

    /// <summary>A protected, sealed pool holding one 8-byte secret, and the mapping of its chunk in /proc/self/maps.</summary>
    private static WriteOncePool SealedSecret(out nint address, out PoolMapping mapping)
    {
        WriteOncePool pool = new(new PoolOptions { Name = "attack-sealed", Seal = SealMode.Required });
        address = pool.Allocate(sizeof(long));
        *(long*)address = Secret;
        pool.Protect();
        mapping = ProcSelf.ChunkAt(pool.Name, address);
        return pool;
    }

    private static void RequireIntact(nint address, string call)
    {
        if (*(long*)address != Secret)
        {
            Console.WriteLine($"{call} was refused, but the protected value changed to 0x{*(long*)address:x}");
            Console.WriteLine(SurvivedMarker);
            Environment.Exit(0);
        }
    }

    /// <summary>Maps fresh writable memory at the (now free) page of <paramref name="address"/> and writes there.</summary>
    private static void ReplaceWithWritable(nint address)
    {
        nint page = address & ~(nint)(Environment.SystemPageSize - 1);
        _ = Libc.mmap(page, (nuint)Environment.SystemPageSize, Libc.Prot.Read | Libc.Prot.Write,
            Libc.MapFlags.Private | Libc.MapFlags.Anonymous | Libc.MapFlags.Fixed, -1, 0);
        *(long*)address = 0x0BAD;
    }

    /// <summary>Opens <paramref name="path"/> read-write and maps it writable, shared; on success writes through the alias.</summary>
    private static bool MapWritableAlias(string path, nint address, PoolMapping mapping)
    {
        int fd = Libc.open(path, Libc.OpenFlags.ReadWrite | Libc.OpenFlags.CloseOnExec);
        if (fd < 0)
        {
            return false;
        }

        nint alias = Libc.mmap(0, mapping.Length, Libc.Prot.Read | Libc.Prot.Write, Libc.MapFlags.Shared, fd, mapping.Offset);
        int errno = Libc.LastErrno;
        _ = Libc.close(fd);
        if (alias == Libc.MapFailed)
        {
            Marshal.SetLastPInvokeError(errno);
            return false;
        }

        *(long*)(alias + (address - mapping.Start)) = 0x0BAD;
        return true;
    }

    private static void ProcSelfMemWrite(nint address)
    {
        using Microsoft.Win32.SafeHandles.SafeFileHandle mem = File.OpenHandle("/proc/self/mem", FileMode.Open, FileAccess.ReadWrite);
        Ready();
        try
        {
            RandomAccess.Write(mem, BitConverter.GetBytes(0x0BADL), address);
        }
        catch (IOException e)
        {
            RequireIntact(address, "write(/proc/self/mem)");
            throw new IOException($"write(/proc/self/mem) refused ({e.Message}): the kernel does not force writes into shared mappings (nor into one mapped from a read-only descriptor, as a sealed write-once chunk is); the data is intact.", e);
        }

        Console.WriteLine($"/proc/self/mem write went through; the protected value is now 0x{*(long*)address:x}");
    }

    /// <summary>The number of pool mappings in /proc/self/maps.</summary>
    private static int PoolMappings() => File.ReadLines("/proc/self/maps").Count(l => l.Contains(PoolMaps.Prefix, StringComparison.Ordinal));

    /// <summary>Drops CAP_IPC_LOCK from this process, so RLIMIT_MEMLOCK applies to it (root has it by default).</summary>
    private static void DropIpcLock()
    {
        const int CapIpcLock = 14;
        Libc.CapHeader header = new() { Version = Libc.CapabilityVersion3 };
        Libc.CapData* data = stackalloc Libc.CapData[2];
        if (Libc.capget(ref header, data) != 0)
        {
            throw new InvalidOperationException("setup: capget failed");
        }

        data[0].Effective &= ~(1u << CapIpcLock);
        data[0].Permitted &= ~(1u << CapIpcLock);
        data[0].Inheritable &= ~(1u << CapIpcLock);
        if (Libc.capset(ref header, data) != 0)
        {
            throw new InvalidOperationException("setup: capset failed");
        }
    }
}
