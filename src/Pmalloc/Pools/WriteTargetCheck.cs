namespace Pmalloc;

/// <summary>
/// The check of a buffer the pool layer writes into for a caller (<see cref="ProtectablePool.Read"/>'s destination): may it
/// be written? Only the process-wide registry above (<c>Usercopy/</c>) can answer, for any pool; it hands its check
/// (<see cref="ProtectedMemory.CheckWrite"/>) down here when the assembly loads, as it subscribes to <see cref="ChunkEvents"/>,
/// so the pool layer calls it without knowing the registry.
/// </summary>
internal static class WriteTargetCheck
{
    private static Action<nint, nuint> s_check = static (_, _) => throw ThrowHelper.InvariantBroken("The usercopy check of destinations was not registered.");

    /// <summary>Sets the check; called once, by <c>Usercopy/</c>'s module initializer, before any pool exists.</summary>
    internal static void Register(Action<nint, nuint> check) => s_check = check;

    /// <summary>
    /// Throws, as <see cref="ProtectedMemory.CheckWrite"/> does, unless [<paramref name="address"/>, +<paramref name="length"/>)
    /// may be written. The caller holds no pool's lock: the check takes the lock of the writable pool the range lies in.
    /// </summary>
    internal static void Check(nint address, nuint length) => s_check(address, length);
}
