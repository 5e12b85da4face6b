namespace Pmalloc;

/// <summary>One live allocation: the pool that owns it, its first byte and its size in bytes as requested.</summary>
/// <param name="PoolName">The owning pool's name.</param>
/// <param name="Start">The address <c>Allocate</c> returned.</param>
/// <param name="Size">The size that was asked for.</param>
public readonly record struct AllocationInfo(string PoolName, nint Start, nuint Size)
{
    /// <summary>One past the last byte of the allocation.</summary>
    public nint End => Start + (nint)Size;
}
