using Pmalloc.Bench.Native;

namespace Pmalloc.Bench;

/// <summary>
/// A named memfd mapped <c>MAP_SHARED</c> read-write, the kind of memory a pool chunk is, made without a pool: the
/// baselines write it and flip it with <c>mprotect</c>. The fd is closed at once; the mapping keeps the memory.
/// </summary>
public sealed class MemfdMapping : IDisposable
{
    /// <summary>Maps <paramref name="length"/> bytes of a new memfd called <paramref name="name"/>.</summary>
    public MemfdMapping(string name, nuint length)
    {
        Name = name;
        int fd = Libc.memfd_create(name, Libc.MemfdFlags.CloseOnExec);
        if (fd < 0)
        {
            Libc.ThrowLastError("memfd_create", Context);
        }

        try
        {
            if (Libc.ftruncate(fd, (long)length) != 0)
            {
                Libc.ThrowLastError("ftruncate", Context);
            }

            nint start = Libc.mmap(0, length, Libc.Prot.Read | Libc.Prot.Write, Libc.MapFlags.Shared, fd, 0);
            if (start == Libc.MapFailed)
            {
                Libc.ThrowLastError("mmap", Context);
            }

            Start = start;
            Length = length;
        }
        finally
        {
            _ = Libc.close(fd);
        }
    }

    /// <summary>The memfd's name (without the <c>/memfd:</c> the kernel shows before it).</summary>
    public string Name { get; }

    /// <summary>The first byte (page-aligned).</summary>
    public nint Start { get; private set; }

    /// <summary>The mapped bytes.</summary>
    public nuint Length { get; }

    private string Context => $"baseline mapping '{Name}'";

    /// <summary>One <c>mprotect</c> of the whole mapping.</summary>
    public void Protect(Libc.Prot protection)
    {
        if (Libc.mprotect(Start, Length, protection) != 0)
        {
            Libc.ThrowLastError("mprotect", Context);
        }
    }

    public void Dispose()
    {
        if (Start != 0)
        {
            _ = Libc.munmap(Start, Length);
            Start = 0;
        }
    }
}
