using System.Runtime.InteropServices;
using Pmalloc.Bench.Native;

namespace Pmalloc.Bench;

/// <summary>
/// What a pool costs the kernel and the CPU, each next to the alternative it must beat (issue 17): a small pool's whole
/// lifecycle against libsodium's, one 64 KiB chunk mapped and unmapped against the same chunk made the way the library
/// made it before (replayed with raw system calls), and an allocation in a pool whose chunk is mapped against a warm
/// <see cref="NativeMemory.Alloc(nuint)"/>. Public API plus the bench's own libc bindings; shared by <c>pmalloc bench</c>
/// and the BenchmarkDotNet project. Each operation method does one unit of work; the callers time loops of them.
/// </summary>
public sealed unsafe class CostSubjects : IDisposable
{
    /// <summary>Allocations in one small-pool lifecycle.</summary>
    public const int LifecycleAllocations = 10;

    /// <summary>Bytes of each of them.</summary>
    public const int LifecycleSize = 64;

    /// <summary>The chunk mapped and unmapped by <see cref="PoolChunkCycle"/> and the replays.</summary>
    public const int ChunkBytes = 64 * 1024;

    /// <summary>Allocations per timed run of the warm fast path.</summary>
    public const int WarmAllocations = 100_000;

    private static readonly nuint Page = (nuint)Environment.SystemPageSize;

    /// <summary>The pool whose chunks <see cref="PoolChunkCycle"/> maps and unmaps: one small allocation keeps its first chunk.</summary>
    private readonly WriteOncePool _chunkPool;

    /// <summary>The pool-wide memfd of the replayed new scheme, and its size once sized.</summary>
    private readonly int _replayFd;
    private long _replayOffset;

    private readonly nint[] _warm = new nint[WarmAllocations];

    public CostSubjects()
    {
        _chunkPool = new WriteOncePool(new PoolOptions { Name = "bench-chunk-cycle" });
        *(long*)_chunkPool.Allocate(16) = 1;
        _replayFd = Libc.memfd_create("pmalloc:bench-replay", Libc.MemfdFlags.CloseOnExec | Libc.MemfdFlags.AllowSealing);
        if (_replayFd < 0)
        {
            Libc.ThrowLastError("memfd_create", "the replayed chunk scheme");
        }
    }

    /// <summary>Null where libsodium can be used, else why its column is skipped.</summary>
    public static string? SodiumMissing => Sodium.Probe();

    /// <summary>Does <c>MADV_GUARD_INSTALL</c> work on a memfd mapping here (the replayed new scheme needs it)?</summary>
    public static bool GuardInstall => ProtectedMemory.Support.GuardInstall;

    /// <summary>A small pool from birth to death: create, <see cref="LifecycleAllocations"/> x Allocate(64) each written, Protect, Dispose.</summary>
    public static void PoolLifecycle()
    {
        using WriteOncePool pool = new(new PoolOptions { Name = "bench-lifecycle" });
        for (int i = 0; i < LifecycleAllocations; i++)
        {
            *(long*)pool.Allocate(LifecycleSize) = i;
        }

        pool.Protect();
    }

    /// <summary>The same payload with libsodium: one sodium_malloc(640), written, sodium_mprotect_readonly, sodium_free.</summary>
    public static void SodiumLifecycle()
    {
        nint p = Sodium.sodium_malloc(LifecycleAllocations * LifecycleSize);
        if (p == 0)
        {
            throw new OutOfMemoryException("sodium_malloc returned NULL");
        }

        for (int i = 0; i < LifecycleAllocations; i++)
        {
            *(long*)(p + (i * LifecycleSize)) = i;
        }

        _ = Sodium.sodium_mprotect_readonly(p);
        Sodium.sodium_free(p);
    }

    /// <summary>The floor: one page from aligned_alloc, written, mprotect read-only, mprotect back, free.</summary>
    public static void PageLifecycle()
    {
        nint p = Libc.aligned_alloc(Page, Page);
        for (int i = 0; i < LifecycleAllocations; i++)
        {
            *(long*)(p + (i * LifecycleSize)) = i;
        }

        _ = Libc.mprotect(p, Page, Libc.Prot.Read);
        _ = Libc.mprotect(p, Page, Libc.Prot.Read | Libc.Prot.Write);
        Libc.free(p);
    }

    /// <summary>
    /// The floor under <see cref="PoolLifecycle"/>: the system calls the pool makes for it, replayed raw (memfd_create,
    /// ftruncate, one mmap of guard + page + guard, the guard install, MADV_DONTFORK, the page prefaulted (MADV_POPULATE_WRITE), the
    /// stores, mprotect read-only, close, MADV_REMOVE of the page written, munmap). What the pool adds on top is its own work.
    /// </summary>
    public static void ReplayPoolLifecycle()
    {
        int fd = Libc.memfd_create("pmalloc:bench-replay-life", Libc.MemfdFlags.CloseOnExec | Libc.MemfdFlags.AllowSealing);
        _ = Libc.ftruncate(fd, 1 << 20);
        nuint span = 3 * Page;
        nint start = Libc.mmap(0, span, Libc.Prot.Read | Libc.Prot.Write, Libc.MapFlags.Shared, fd, 0);
        Libc.IoVec* guards = stackalloc Libc.IoVec[2];
        guards[0] = new Libc.IoVec { Base = start, Length = Page };
        guards[1] = new Libc.IoVec { Base = start + (nint)(2 * Page), Length = Page };
        if (Libc.process_madvise(Libc.PidfdSelf, guards, 2, Libc.Advice.GuardInstall) < 0)
        {
            _ = Libc.madvise(start, Page, Libc.Advice.GuardInstall);
            _ = Libc.madvise(start + (nint)(2 * Page), Page, Libc.Advice.GuardInstall);
        }

        _ = Libc.madvise(start, span, Libc.Advice.DontFork);
        nint data = start + (nint)Page;
        _ = Libc.madvise(data, Page, Libc.Advice.PopulateWrite);
        for (int i = 0; i < LifecycleAllocations; i++)
        {
            *(long*)(data + (i * LifecycleSize)) = i;
        }

        _ = Libc.mprotect(start, span, Libc.Prot.Read);
        _ = Libc.close(fd);
        _ = Libc.madvise(data, Page, Libc.Advice.Remove);
        _ = Libc.munmap(start, span);
    }

    /// <summary>One 64 KiB chunk mapped and unmapped through the public API: Allocate(64 KiB) gets a chunk of its own, Free gives it back.</summary>
    public void PoolChunkCycle() => _chunkPool.Free(_chunkPool.Allocate(ChunkBytes));

    /// <summary>
    /// The chunk the way the library made it before issue 17, replayed: a memfd per chunk, sized, a PROT_NONE reservation
    /// with the memfd mapped over its middle (three VMAs), then munmap and close.
    /// </summary>
    public static void ReplayMemfdPerChunk()
    {
        int fd = Libc.memfd_create("pmalloc:bench-replay-old", Libc.MemfdFlags.CloseOnExec | Libc.MemfdFlags.AllowSealing);
        _ = Libc.ftruncate(fd, ChunkBytes);
        nuint total = ChunkBytes + (2 * Page);
        nint reservation = Libc.mmap(0, total, Libc.Prot.None, Libc.MapFlags.Private | Libc.MapFlags.Anonymous | Libc.MapFlags.NoReserve, -1, 0);
        _ = Libc.mmap(reservation + (nint)Page, ChunkBytes, Libc.Prot.Read | Libc.Prot.Write, Libc.MapFlags.Shared | Libc.MapFlags.Fixed, fd, 0);
        _ = Libc.munmap(reservation, total);
        _ = Libc.close(fd);
    }

    /// <summary>
    /// The chunk as one memfd per pool makes it, replayed: map a range of the pool's memfd (a range a freed chunk left,
    /// so the file needs no growth) with its guard pages as one VMA, install both guards in one process_madvise
    /// (MADV_GUARD_INSTALL), leave it out of forks (MADV_DONTFORK), then munmap and punch the range out of the memfd.
    /// </summary>
    public void ReplayPoolMemfd()
    {
        nuint span = ChunkBytes + (2 * Page);
        if (_replayOffset == 0)
        {
            _replayOffset = (long)span;
            _ = Libc.ftruncate(_replayFd, _replayOffset);
        }

        nint start = Libc.mmap(0, span, Libc.Prot.Read | Libc.Prot.Write, Libc.MapFlags.Shared, _replayFd, 0);
        Libc.IoVec* guards = stackalloc Libc.IoVec[2];
        guards[0] = new Libc.IoVec { Base = start, Length = Page };
        guards[1] = new Libc.IoVec { Base = start + (nint)(span - Page), Length = Page };
        if (Libc.process_madvise(Libc.PidfdSelf, guards, 2, Libc.Advice.GuardInstall) < 0)
        {
            _ = Libc.madvise(start, Page, Libc.Advice.GuardInstall);
            _ = Libc.madvise(start + (nint)(span - Page), Page, Libc.Advice.GuardInstall);
        }

        _ = Libc.madvise(start, span, Libc.Advice.DontFork);
        _ = Libc.munmap(start, span);
        _ = Libc.fallocate(_replayFd, Libc.FallocateMode.PunchHole | Libc.FallocateMode.KeepSize, 0, (long)span);
    }

    /// <summary>
    /// A pool whose chunk is mapped and whose bitmaps are warm, ready for <see cref="WarmAllocations"/> allocations of
    /// <paramref name="size"/>: a 64 MiB first chunk (ChunkSize), filled once and freed again newest first, which brings the
    /// bump cursor back to the start. (Not with a checkpoint: a pool that keeps a rollback log takes the locked path.)
    /// </summary>
    public static WriteOncePool WarmPool(int size)
    {
        WriteOncePool pool = new(new PoolOptions { Name = "bench-warm", ChunkSize = 64 << 20 });
        nint[] made = new nint[WarmAllocations];
        for (int i = 0; i < made.Length; i++)
        {
            made[i] = pool.Allocate((nuint)size);
        }

        for (int i = made.Length - 1; i >= 0; i--)
        {
            pool.Free(made[i]);
        }

        return pool;
    }

    /// <summary>Times <see cref="WarmAllocations"/> x pool.Allocate(<paramref name="size"/>) in a warm pool; ns per call (thread CPU time).</summary>
    public double TimeWarmPool(int size)
    {
        using WriteOncePool pool = WarmPool(size);
        nint[] objects = _warm;
        nuint n = (nuint)size;
        long t0 = Libc.ThreadCpuNs();
        for (int i = 0; i < objects.Length; i++)
        {
            objects[i] = pool.Allocate(n);
        }

        return (double)(Libc.ThreadCpuNs() - t0) / objects.Length;
    }

    /// <summary>Times <see cref="WarmAllocations"/> x NativeMemory.Alloc(<paramref name="size"/>) on a warm heap (the same allocations made and freed just before).</summary>
    public double TimeWarmMalloc(int size)
    {
        nint[] objects = _warm;
        nuint n = (nuint)size;
        for (int i = 0; i < objects.Length; i++)
        {
            objects[i] = (nint)NativeMemory.Alloc(n);
        }

        FreeAll(objects);
        long t0 = Libc.ThreadCpuNs();
        for (int i = 0; i < objects.Length; i++)
        {
            objects[i] = (nint)NativeMemory.Alloc(n);
        }

        double ns = (double)(Libc.ThreadCpuNs() - t0) / objects.Length;
        FreeAll(objects);

        // Finish the frees here, untimed like them: glibc keeps 100,000 freed small blocks in its fast bins and coalesces
        // them (malloc_consolidate, about 1 ms here) only when a later request does not fit. Left there, that bill goes to
        // the next subject that calls malloc at all: the pool's lifecycle, whose chunk metadata is one small calloc, paid
        // about 2.5 µs a lifecycle for it (1 ms over the round's 400).
        Glibc.Trim();
        return ns;
    }

    public void Dispose()
    {
        _chunkPool.Dispose();
        _ = Libc.close(_replayFd);
    }

    private static void FreeAll(nint[] objects)
    {
        foreach (nint p in objects)
        {
            NativeMemory.Free((void*)p);
        }
    }
}
