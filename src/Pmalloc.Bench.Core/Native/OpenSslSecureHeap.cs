using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

/// <summary>
/// OpenSSL's secure heap (<c>libcrypto.so.3</c>): one locked, guarded arena set up by
/// <c>CRYPTO_secure_malloc_init</c>, carved by a buddy allocator. It cannot be made read-only.
/// </summary>
/// <remarks>
/// The arena is per process and can be set up again only when nothing is allocated in it
/// (<c>CRYPTO_secure_malloc_done</c>), so each measurement initialises and tears it down.
/// When the arena is full OpenSSL silently falls back to plain malloc: <see cref="IsSecure"/> checks.
/// </remarks>
public static partial class OpenSslSecureHeap
{
    private const string Library = "libcrypto.so.3";

    private static readonly Lazy<string?> s_missing = new(ProbeOnce);

    /// <summary>Null when libcrypto is loaded, else why it cannot be used.</summary>
    public static string? Probe() => s_missing.Value;

    private static string? ProbeOnce() =>
        NativeLibrary.TryLoad(Library, out _) ? null : $"{Library} could not be loaded (install Debian's libssl3 to measure OpenSSL's secure heap)";

    /// <summary>Sets up an arena of <paramref name="size"/> bytes (a power of two) with blocks of at least <paramref name="minSize"/>.</summary>
    public static void Init(nuint size, nuint minSize)
    {
        // 1: ready; 2: ready but mlock failed (still usable); 0: failed, or an arena already exists.
        if (CRYPTO_secure_malloc_init(size, minSize) == 0)
        {
            throw new InvalidOperationException($"CRYPTO_secure_malloc_init({size}, {minSize}) failed");
        }
    }

    /// <summary>Tears the arena down; everything must have been freed.</summary>
    public static void Done()
    {
        if (CRYPTO_secure_malloc_done() == 0)
        {
            throw new InvalidOperationException("CRYPTO_secure_malloc_done failed: allocations are still live");
        }
    }

    public static nint Malloc(nuint size) => CRYPTO_secure_malloc(size, 0, 0);

    public static void Free(nint ptr) => CRYPTO_secure_free(ptr, 0, 0);

    /// <summary>Is <paramref name="ptr"/> in the arena (and not a malloc fallback)?</summary>
    public static bool IsSecure(nint ptr) => CRYPTO_secure_allocated(ptr) != 0;

    [LibraryImport(Library)]
    private static partial int CRYPTO_secure_malloc_init(nuint size, nuint minsize);

    [LibraryImport(Library)]
    private static partial int CRYPTO_secure_malloc_done();

    [LibraryImport(Library)]
    private static partial nint CRYPTO_secure_malloc(nuint num, nint file, int line);

    [LibraryImport(Library)]
    private static partial void CRYPTO_secure_free(nint ptr, nint file, int line);

    [LibraryImport(Library)]
    private static partial int CRYPTO_secure_allocated(nint ptr);
}
