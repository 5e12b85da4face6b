using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

/// <summary>
/// libsodium's guarded heap (<c>libsodium.so.23</c>, Debian's <c>libsodium23</c>): each <c>sodium_malloc</c>
/// is its own mapping of whole pages between two guard pages, locked in RAM, that
/// <c>sodium_mprotect_readonly</c> can make read-only.
/// </summary>
/// <remarks>Optional: the benchmarks probe it once with <see cref="Probe"/> and skip its column when it is missing.</remarks>
public static partial class Sodium
{
    private const string Library = "libsodium.so.23";

    private static readonly Lazy<string?> s_missing = new(ProbeOnce);

    /// <summary>Null when libsodium is loaded and initialised, else why it cannot be used.</summary>
    public static string? Probe() => s_missing.Value;

    private static string? ProbeOnce()
    {
        if (!NativeLibrary.TryLoad(Library, out _))
        {
            return $"{Library} could not be loaded (install Debian's libsodium23 to measure libsodium)";
        }

        // sodium_init returns 0 on success, 1 if already initialised, -1 on failure.
        return sodium_init() < 0 ? "sodium_init failed" : null;
    }

    [LibraryImport(Library)]
    private static partial int sodium_init();

    [LibraryImport(Library)]
    public static partial nint sodium_malloc(nuint size);

    [LibraryImport(Library)]
    public static partial void sodium_free(nint ptr);

    [LibraryImport(Library)]
    public static partial int sodium_mprotect_readonly(nint ptr);

    [LibraryImport(Library)]
    public static partial int sodium_mprotect_readwrite(nint ptr);
}
