using System.Runtime.InteropServices;
using Pmalloc.Bench.Native;

namespace Pmalloc.Bench;

/// <summary>
/// One way to get many small objects that could be made read-only: the pool and the alternatives a
/// user would otherwise reach for. A run is <see cref="Begin"/>, <see cref="Allocate"/> × n,
/// <see cref="ProtectAll"/> (where the allocator can protect), <see cref="End"/>.
/// </summary>
public abstract class SmallAllocator
{
    /// <summary>Every allocator, in the order the tables show them.</summary>
    public static IReadOnlyList<SmallAllocator> All { get; } =
        [new PoolAllocator(), new NativeMemoryAllocator(), new SodiumAllocator(), new OpenSslAllocator(), new PagePerObjectAllocator()];

    /// <summary>The column name.</summary>
    public abstract string Name { get; }

    /// <summary>Null when usable here, else why the column is skipped (a missing library).</summary>
    public virtual string? Missing => null;

    /// <summary>The most objects one run may hold: allocators that map pages per object hit <c>vm.max_map_count</c> (65530) long before 100,000.</summary>
    public virtual int MaxObjects => int.MaxValue;

    /// <summary>Can it make its objects read-only afterwards?</summary>
    public virtual bool CanProtect => true;

    /// <summary>Gets ready for <paramref name="count"/> objects of <paramref name="size"/> bytes (maps an arena, makes a pool).</summary>
    public virtual void Begin(int size, int count)
    {
    }

    /// <summary>One allocation: the operation timed.</summary>
    public abstract nint Allocate(nuint size);

    /// <summary>Makes every object read-only.</summary>
    public virtual void ProtectAll(ReadOnlySpan<nint> objects) => throw new NotSupportedException($"{Name} cannot make memory read-only");

    /// <summary>Checks the objects really came from this allocator (OpenSSL falls back to malloc when its arena is full).</summary>
    public virtual void Verify(ReadOnlySpan<nint> objects)
    {
    }

    /// <summary>Frees every object and whatever <see cref="Begin"/> set up, and zeroes <paramref name="objects"/>, so a second call does nothing.</summary>
    public void End(Span<nint> objects)
    {
        Release(objects);
        objects.Clear();
    }

    /// <summary>Frees every non-zero object in <paramref name="objects"/>, and whatever <see cref="Begin"/> set up.</summary>
    protected abstract void Release(ReadOnlySpan<nint> objects);
}

/// <summary>A write-once pool: a bump of a cursor under the pool's lock; one <c>mprotect</c> per chunk on Protect.</summary>
public sealed class PoolAllocator : SmallAllocator
{
    public const string PoolName = "bench-small";

    public override string Name => "pmalloc pool";

    /// <summary>The pool of the current run.</summary>
    public WriteOncePool? Pool { get; private set; }

    public override void Begin(int size, int count) => Pool = new WriteOncePool(new PoolOptions { Name = PoolName });

    public override nint Allocate(nuint size) => Pool!.Allocate(size);

    public override void ProtectAll(ReadOnlySpan<nint> objects) => Pool!.Protect();

    protected override void Release(ReadOnlySpan<nint> objects)
    {
        Pool?.Dispose();
        Pool = null;
    }
}

/// <summary>glibc malloc through <see cref="NativeMemory.Alloc(nuint)"/>: the speed to beat; no protection possible.</summary>
public sealed unsafe class NativeMemoryAllocator : SmallAllocator
{
    public override string Name => "NativeMemory.Alloc";

    public override bool CanProtect => false;

    public override nint Allocate(nuint size) => (nint)NativeMemory.Alloc(size);

    protected override void Release(ReadOnlySpan<nint> objects)
    {
        foreach (nint p in objects)
        {
            NativeMemory.Free((void*)p);  // free(NULL) does nothing
        }
    }
}

/// <summary>libsodium's <c>sodium_malloc</c>, then <c>sodium_mprotect_readonly</c> per object.</summary>
public sealed class SodiumAllocator : SmallAllocator
{
    public override string Name => "sodium_malloc";

    public override string? Missing => Sodium.Probe();

    public override int MaxObjects => 10_000;

    /// <summary>Makes sure <c>sodium_init</c> ran in this process (sodium_malloc aborts without it).</summary>
    public override void Begin(int size, int count)
    {
        if (Sodium.Probe() is { } why)
        {
            throw new InvalidOperationException(why);
        }
    }

    public override nint Allocate(nuint size) => Sodium.sodium_malloc(size);

    public override void ProtectAll(ReadOnlySpan<nint> objects)
    {
        foreach (nint p in objects)
        {
            if (Sodium.sodium_mprotect_readonly(p) != 0)
            {
                throw new InvalidOperationException("sodium_mprotect_readonly failed");
            }
        }
    }

    public override void Verify(ReadOnlySpan<nint> objects)
    {
        if (objects.Contains(0))
        {
            throw new OutOfMemoryException("sodium_malloc returned NULL (vm.max_map_count?)");
        }
    }

    protected override void Release(ReadOnlySpan<nint> objects)
    {
        foreach (nint p in objects)
        {
            if (p != 0)
            {
                Sodium.sodium_free(p);
            }
        }
    }
}

/// <summary>OpenSSL's secure heap: an arena sized for the run (a power of two, twice the payload), no protection possible.</summary>
public sealed class OpenSslAllocator : SmallAllocator
{
    public override string Name => "OpenSSL secure heap";

    public override string? Missing => OpenSslSecureHeap.Probe();

    public override bool CanProtect => false;

    private bool _initialised;

    public override void Begin(int size, int count)
    {
        OpenSslSecureHeap.Init(checked(System.Numerics.BitOperations.RoundUpToPowerOf2((nuint)size * (nuint)count) * 2), 16);
        _initialised = true;
    }

    public override nint Allocate(nuint size) => OpenSslSecureHeap.Malloc(size);

    public override void Verify(ReadOnlySpan<nint> objects)
    {
        foreach (nint p in objects)
        {
            if (!OpenSslSecureHeap.IsSecure(p))
            {
                throw new InvalidOperationException("CRYPTO_secure_malloc fell back to plain malloc: the arena is too small");
            }
        }
    }

    protected override void Release(ReadOnlySpan<nint> objects)
    {
        foreach (nint p in objects)
        {
            if (p != 0)
            {
                OpenSslSecureHeap.Free(p);
            }
        }

        if (_initialised)
        {
            OpenSslSecureHeap.Done();
            _initialised = false;
        }
    }
}

/// <summary>The naive way: one anonymous <c>mmap</c> of whole pages per object, one <c>mprotect</c> per object.</summary>
public sealed class PagePerObjectAllocator : SmallAllocator
{
    private nuint _length;

    public override string Name => "mmap page per object";

    public override int MaxObjects => 10_000;

    public override void Begin(int size, int count) => _length = (nuint)((size + Environment.SystemPageSize - 1) & -Environment.SystemPageSize);

    public override nint Allocate(nuint size) =>
        Libc.mmap(0, _length, Libc.Prot.Read | Libc.Prot.Write, Libc.MapFlags.Private | Libc.MapFlags.Anonymous, -1, 0);

    public override void ProtectAll(ReadOnlySpan<nint> objects)
    {
        foreach (nint p in objects)
        {
            if (Libc.mprotect(p, _length, Libc.Prot.Read) != 0)
            {
                Libc.ThrowLastError("mprotect", "page per object");
            }
        }
    }

    public override void Verify(ReadOnlySpan<nint> objects)
    {
        if (objects.Contains(Libc.MapFailed))
        {
            throw new OutOfMemoryException("mmap failed (vm.max_map_count?)");
        }
    }

    protected override void Release(ReadOnlySpan<nint> objects)
    {
        foreach (nint p in objects)
        {
            if (p != 0 && p != Libc.MapFailed)
            {
                _ = Libc.munmap(p, _length);
            }
        }
    }
}
