using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>Room for a <c>pthread_attr_t</c> (56 bytes on x86-64 glibc, 64 on arm64), opaque to us.</summary>
    internal const int PthreadAttrBytes = 128;

    [LibraryImport(Libc)]
    internal static partial nuint pthread_self();

    /// <summary>Fills <paramref name="attr"/> with the attributes of running thread <paramref name="thread"/>, its stack among them. Returns an error number, not -1.</summary>
    [LibraryImport(Libc)]
    internal static unsafe partial int pthread_getattr_np(nuint thread, void* attr);

    [LibraryImport(Libc)]
    internal static unsafe partial int pthread_attr_getstack(void* attr, out nint stackAddress, out nuint stackSize);

    [LibraryImport(Libc)]
    internal static unsafe partial int pthread_attr_destroy(void* attr);
}
