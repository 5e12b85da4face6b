using Pmalloc.Bench;

namespace Pmalloc.Benchmarks;

/// <summary>Which benchmarks need an optional native library, by method name, so a missing one is filtered out.</summary>
public static class Categories
{
    /// <summary>The word every benchmark method that calls the library has in its name.</summary>
    public static string MethodWordOf(SmallAllocator allocator) => allocator switch
    {
        SodiumAllocator => "Sodium",
        OpenSslAllocator => "OpenSsl",
        _ => allocator.Name,
    };
}
