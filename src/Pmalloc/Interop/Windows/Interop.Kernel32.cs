using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>
    /// kernel32 entry points, one file per function (<c>Interop.CreateFileMapping.cs</c>, <c>Interop.VirtualProtect.cs</c>,
    /// ...), with the Windows SDK's own constant values. Every call sets the thread's last error, which
    /// <see cref="LastErrno"/> reads (the runtime keeps <c>GetLastError</c> there for <c>SetLastError = true</c>); the OS layer
    /// turns it into an <see cref="OsResult"/> whose code is then a Win32 error code, not an errno.
    /// </summary>
    internal static partial class Kernel32
    {
        internal const string Name = "kernel32.dll";

        /// <summary>The symbolic name of Win32 error <paramref name="error"/> (winerror.h), for messages.</summary>
        internal static string ErrorName(int error) => error switch
        {
            Errors.ERROR_INVALID_FUNCTION => "ERROR_INVALID_FUNCTION",
            Errors.ERROR_FILE_NOT_FOUND => "ERROR_FILE_NOT_FOUND",
            Errors.ERROR_ACCESS_DENIED => "ERROR_ACCESS_DENIED",
            Errors.ERROR_INVALID_HANDLE => "ERROR_INVALID_HANDLE",
            Errors.ERROR_NOT_ENOUGH_MEMORY => "ERROR_NOT_ENOUGH_MEMORY",
            Errors.ERROR_OUTOFMEMORY => "ERROR_OUTOFMEMORY",
            Errors.ERROR_NOT_SUPPORTED => "ERROR_NOT_SUPPORTED",
            Errors.ERROR_INVALID_PARAMETER => "ERROR_INVALID_PARAMETER",
            Errors.ERROR_BROKEN_PIPE => "ERROR_BROKEN_PIPE",
            Errors.ERROR_INVALID_ADDRESS => "ERROR_INVALID_ADDRESS",
            Errors.ERROR_PARTIAL_COPY => "ERROR_PARTIAL_COPY",
            Errors.ERROR_TIMEOUT => "ERROR_TIMEOUT",
            Errors.ERROR_NO_SYSTEM_RESOURCES => "ERROR_NO_SYSTEM_RESOURCES",
            Errors.ERROR_WORKING_SET_QUOTA => "ERROR_WORKING_SET_QUOTA",
            Errors.ERROR_COMMITMENT_LIMIT => "ERROR_COMMITMENT_LIMIT",
            Errors.ERROR_PRIVILEGE_NOT_HELD => "ERROR_PRIVILEGE_NOT_HELD",
            Errors.ERROR_NOT_ENOUGH_QUOTA => "ERROR_NOT_ENOUGH_QUOTA",
            Errors.E_OUTOFMEMORY => "E_OUTOFMEMORY",
            _ => $"Win32 error {error}",
        };

        /// <summary>Win32 error codes and HRESULTs (winerror.h).</summary>
        internal static class Errors
        {
            internal const int ERROR_INVALID_FUNCTION = 1;
            internal const int ERROR_FILE_NOT_FOUND = 2;
            internal const int ERROR_ACCESS_DENIED = 5;
            internal const int ERROR_INVALID_HANDLE = 6;
            internal const int ERROR_NOT_ENOUGH_MEMORY = 8;
            internal const int ERROR_OUTOFMEMORY = 14;
            internal const int ERROR_NOT_SUPPORTED = 50;
            internal const int ERROR_INVALID_PARAMETER = 87;
            internal const int ERROR_BROKEN_PIPE = 109;
            internal const int ERROR_INVALID_ADDRESS = 487;
            internal const int ERROR_PARTIAL_COPY = 299;
            internal const int ERROR_TIMEOUT = 1460;
            internal const int ERROR_NO_SYSTEM_RESOURCES = 1450;
            internal const int ERROR_WORKING_SET_QUOTA = 1453;
            internal const int ERROR_COMMITMENT_LIMIT = 1455;
            internal const int ERROR_PRIVILEGE_NOT_HELD = 1314;
            internal const int ERROR_NOT_ENOUGH_QUOTA = 1816;
            internal const int E_OUTOFMEMORY = unchecked((int)0x8007000E);
        }

        /// <summary>Page protection values (winnt.h <c>PAGE_*</c>).</summary>
        internal enum PageProtection : uint
        {
            NoAccess = 0x01,
            ReadOnly = 0x02,
            ReadWrite = 0x04,
        }
    }
}
