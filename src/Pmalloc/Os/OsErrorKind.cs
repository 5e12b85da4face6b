namespace Pmalloc;

/// <summary>The kinds of OS failure the pool layer tells apart, each with its own exception type (<see cref="ThrowHelper.ForOs"/>).</summary>
internal enum OsErrorKind
{
    /// <summary>Anything else: an <see cref="IOException"/> carrying the code.</summary>
    Other,

    /// <summary>Out of memory or address space, or over the commit limit: <see cref="OutOfMemoryException"/>.</summary>
    OutOfMemory,

    /// <summary>The OS has no such feature: <see cref="PlatformNotSupportedException"/>.</summary>
    NotSupported,

    /// <summary>Refused by permission or policy: <see cref="UnauthorizedAccessException"/>.</summary>
    Denied,
}
