using System.Runtime.InteropServices;

namespace Pmalloc.Cli.Policy;

/// <summary>
/// The policy's lookup indexes: three <see cref="ProtectedDictionary{TKey, TValue}"/> built into the policy's own
/// pool (so their tables are protected with it), keyed by name and holding addresses of pool records.
/// </summary>
/// <remarks>
/// The <see cref="PolicyRoot"/> in the pool reaches this managed object through a GC handle
/// (<see cref="PolicyRoot.Indexes"/>): the chain from the published root pointer to the tables never passes
/// through writable memory of ours. The handle is freed by <see cref="Dispose"/>.
/// </remarks>
internal sealed class PolicyIndexes : IDisposable
{
    private GCHandle _handle;

    internal PolicyIndexes(ProtectablePool pool, IEnumerable<KeyValuePair<string, nint>> roles, IEnumerable<KeyValuePair<string, nint>> users, IEnumerable<KeyValuePair<string, nint>> permissions)
    {
        Roles = roles.ToProtectedDictionary(pool).GetAlternateLookup<ReadOnlySpan<char>>();
        Users = users.ToProtectedDictionary(pool).GetAlternateLookup<ReadOnlySpan<char>>();
        Permissions = permissions.ToProtectedDictionary(pool).GetAlternateLookup<ReadOnlySpan<char>>();
        _handle = GCHandle.Alloc(this);
    }

    /// <summary>Role name → <see cref="RoleRecord"/>.</summary>
    internal ProtectedDictionary<ProtectedString, nint>.AlternateLookup<ReadOnlySpan<char>> Roles { get; }

    /// <summary>User name → <see cref="UserRecord"/>.</summary>
    internal ProtectedDictionary<ProtectedString, nint>.AlternateLookup<ReadOnlySpan<char>> Users { get; }

    /// <summary>"ACTION OBJECT" → <see cref="PermissionRecord"/>.</summary>
    internal ProtectedDictionary<ProtectedString, nint>.AlternateLookup<ReadOnlySpan<char>> Permissions { get; }

    /// <summary>The handle to store in the pool.</summary>
    internal nint Handle => GCHandle.ToIntPtr(_handle);

    /// <summary>The indexes a root's handle refers to.</summary>
    internal static PolicyIndexes FromHandle(nint handle) => (PolicyIndexes)GCHandle.FromIntPtr(handle).Target!;

    public void Dispose()
    {
        if (_handle.IsAllocated)
        {
            _handle.Free();
        }
    }
}
