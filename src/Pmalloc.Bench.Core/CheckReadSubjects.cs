namespace Pmalloc.Bench;

/// <summary>
/// Hardened usercopy on a big pool: a protected pool with a million live 16-byte allocations, and addresses
/// to check spread over all of them (seeded). <see cref="CheckRead"/> is <c>ProtectedMemory.CheckRead</c> of one
/// allocation's bytes; <see cref="SpanCopy"/> is the plain copy of the same bytes it guards; <see cref="CheckedRead"/>
/// is the pool's checked copy-out (<c>pool.Read</c>).
/// </summary>
public sealed unsafe class CheckReadSubjects : IDisposable
{
    public const int LiveAllocations = 1_000_000;
    public const int Size = 16;

    private readonly WriteOncePool _pool;
    private readonly nint[] _targets;

    public CheckReadSubjects()
    {
        _pool = new WriteOncePool(new PoolOptions { Name = "bench-usercopy" });
        nint[] all = new nint[LiveAllocations];
        for (int i = 0; i < all.Length; i++)
        {
            all[i] = _pool.Allocate(Size);
            *(long*)all[i] = i;
        }

        _pool.Protect();
        Random random = new(3);
        _targets = new nint[1 << 16];
        for (int i = 0; i < _targets.Length; i++)
        {
            _targets[i] = all[random.Next(all.Length)];
        }
    }

    /// <summary>Addresses checked per call of the loops below.</summary>
    public int Count => _targets.Length;

    /// <summary>CheckRead of every target; returns the sum of the sizes found (so nothing is optimised away).</summary>
    public long CheckRead()
    {
        long sum = 0;
        foreach (nint p in _targets)
        {
            sum += (long)ProtectedMemory.CheckRead(p, Size).Size;
        }

        return sum;
    }

    /// <summary>A plain copy of every target's bytes, unchecked: the cost CheckRead adds to.</summary>
    public long SpanCopy()
    {
        Span<byte> buffer = stackalloc byte[Size];
        long sum = 0;
        foreach (nint p in _targets)
        {
            new ReadOnlySpan<byte>((void*)p, Size).CopyTo(buffer);
            sum += buffer[0];
        }

        return sum;
    }

    /// <summary>The pool's checked copy-out of every target.</summary>
    public long CheckedRead()
    {
        Span<byte> buffer = stackalloc byte[Size];
        long sum = 0;
        foreach (nint p in _targets)
        {
            _pool.Read(p, buffer);
            sum += buffer[0];
        }

        return sum;
    }

    public void Dispose() => _pool.Dispose();
}
