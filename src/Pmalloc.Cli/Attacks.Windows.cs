using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Pmalloc.Cli;

/// <summary>
/// The Windows cases: what an attacker who can call kernel32 does to protected memory on Windows, which has no sealing.
/// <c>VirtualProtect</c> back to <c>PAGE_READWRITE</c> works on a protected pool (a documented limit, as <c>mprotect</c> on
/// Linux without <c>mseal</c>), and is refused on an object cache's chunk, whose view was mapped read-only.
/// </summary>
internal static unsafe partial class Attacks
{
    private const uint PageReadWrite = 0x04;

    static partial void AddWindowsCases(Action<Attack> add)
    {
        add(new("windows-virtualprotect", "VirtualProtect(PAGE_READWRITE) on a protected pool, then write (Windows has no sealing)", Outcome.NotBlocked, () =>
        {
            using WriteOncePool pool = ProtectedSecret(out nint p);
            Ready();
            RaiseToReadWrite(p);
            *(long*)p = 0x0BAD;
            Console.WriteLine($"the protected value is now 0x{*(long*)p:x}");
        }, WindowsOnly: true));
        add(new("windows-objectcache-virtualprotect", "VirtualProtect(PAGE_READWRITE) on an object cache's chunk (mapped read-only), then write", Outcome.Refused, () =>
        {
            using ObjectCache<long> cache = new(new PoolOptions { Name = "attack-cache" });
            ref readonly long item = ref cache.Create(Secret);
            nint p = (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.CompilerServices.Unsafe.AsRef(in item));
            Ready();
            RaiseToReadWrite(p);
            *(long*)p = 0x0BAD;
        }, WindowsOnly: true));
    }

    /// <summary>Makes the page that holds <paramref name="p"/> read-write, or throws with the Win32 error.</summary>
    private static void RaiseToReadWrite(nint p)
    {
        if (!OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("VirtualProtect is Windows'");
        }

        nint page = p & ~(nint)(Environment.SystemPageSize - 1);
        if (!Kernel32.VirtualProtect(page, (nuint)Environment.SystemPageSize, PageReadWrite, out _))
        {
            int error = Marshal.GetLastPInvokeError();
            throw new UnauthorizedAccessException($"VirtualProtect(PAGE_READWRITE) failed with Win32 error {error}; the value is still 0x{*(long*)p:x}");
        }
    }

    /// <summary>The one kernel32 call the Windows cases make.</summary>
    private static partial class Kernel32
    {
        [LibraryImport("kernel32.dll", SetLastError = true)]
        [return: MarshalAs(UnmanagedType.Bool)]
        [SupportedOSPlatform("windows")]
        internal static partial bool VirtualProtect(nint address, nuint size, uint protection, out uint old);
    }
}
