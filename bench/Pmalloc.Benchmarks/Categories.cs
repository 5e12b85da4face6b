using Pmalloc.Bench;

namespace Pmalloc.Benchmarks;

/// <summary>Benchmark categories, one per optional native library, so a missing one can be filtered out.</summary>
public static class Categories
{
    public const string Sodium = "libsodium";
    public const string OpenSsl = "openssl";

    public static string Of(SmallAllocator allocator) => allocator switch
    {
        SodiumAllocator => Sodium,
        OpenSslAllocator => OpenSsl,
        _ => allocator.Name,
    };
}
