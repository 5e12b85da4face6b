using System.Runtime.InteropServices;
using System.Runtime.Versioning;

[assembly: SupportedOSPlatform("linux")]
[assembly: SupportedOSPlatform("windows")]

namespace Pmalloc;

/// <summary>
/// Where the library runs: Linux on 64-bit x86 and arm64, and Windows on 64-bit x86 (tested under Wine). Checked at the first pool and by
/// <see cref="ProtectedMemory.Support"/>, before any system call, so another OS gets a
/// <see cref="PlatformNotSupportedException"/> that names the supported ones, never a <c>DllNotFoundException</c>
/// or a Linux system call number run on another kernel.
/// </summary>
internal static class OsPlatform
{
    /// <summary>The supported platforms, for messages and docs.</summary>
    internal const string Supported = "Linux on x86-64 or arm64, and Windows on x64";

    private static readonly bool s_supported =
        (OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64) ||
        (OperatingSystem.IsWindows() && RuntimeInformation.ProcessArchitecture is Architecture.X64);

    /// <summary>Throws <see cref="PlatformNotSupportedException"/> unless this process runs on a supported platform.</summary>
    internal static void EnsureSupported()
    {
        if (!s_supported)
        {
            ThrowHelper.ThrowPlatformNotSupported(RuntimeInformation.OSDescription, RuntimeInformation.ProcessArchitecture.ToString());
        }
    }
}
