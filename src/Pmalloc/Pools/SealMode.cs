namespace Pmalloc;

/// <summary>How a pool is sealed when it is protected.</summary>
public enum SealMode
{
    /// <summary>Protect with <c>mprotect</c> only.</summary>
    None,

    /// <summary>Seal where the kernel has <c>mseal(2)</c>; elsewhere protect only, and say so in <see cref="PoolStatistics.Sealed"/>.</summary>
    IfSupported,

    /// <summary>Seal, or fail with <see cref="PlatformNotSupportedException"/> where the kernel has no <c>mseal(2)</c>.</summary>
    Required,
}
