using System.Runtime.InteropServices;

namespace Pmalloc;

/// <remarks>
/// posix_spawn and the helpers that fill its two opaque arguments. Their sizes differ between C libraries (glibc's
/// posix_spawn_file_actions_t is 80 bytes, posix_spawnattr_t 336), so callers pass buffers of
/// <see cref="SpawnObjectBytes"/>, larger than either.
/// </remarks>
internal static partial class Interop
{
    /// <summary>Bytes to reserve for a posix_spawn_file_actions_t or a posix_spawnattr_t.</summary>
    internal const int SpawnObjectBytes = 1024;

    /// <summary>Bytes of a sigset_t (glibc: 1024 bits).</summary>
    internal const int SigsetBytes = 128;

    /// <summary>posix_spawnattr flags (spawn.h).</summary>
    [Flags]
    internal enum SpawnFlags : short
    {
        SetSignalMask = 0x08,
    }

    /// <summary>Starts <paramref name="path"/> with <paramref name="argv"/> and <paramref name="envp"/>; returns 0 or an errno (not -1).</summary>
    [LibraryImport(Libc)]
    internal static unsafe partial int posix_spawn(int* pid, byte* path, void* fileActions, void* attributes, byte** argv, byte** envp);

    [LibraryImport(Libc)]
    internal static unsafe partial int posix_spawn_file_actions_init(void* fileActions);

    [LibraryImport(Libc)]
    internal static unsafe partial int posix_spawn_file_actions_adddup2(void* fileActions, int fd, int newFd);

    [LibraryImport(Libc)]
    internal static unsafe partial int posix_spawn_file_actions_destroy(void* fileActions);

    [LibraryImport(Libc)]
    internal static unsafe partial int posix_spawnattr_init(void* attributes);

    [LibraryImport(Libc)]
    internal static unsafe partial int posix_spawnattr_setflags(void* attributes, SpawnFlags flags);

    [LibraryImport(Libc)]
    internal static unsafe partial int posix_spawnattr_setsigmask(void* attributes, void* mask);

    [LibraryImport(Libc)]
    internal static unsafe partial int posix_spawnattr_destroy(void* attributes);
}
