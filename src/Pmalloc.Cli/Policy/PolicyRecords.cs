using System.Runtime.InteropServices;

namespace Pmalloc.Cli.Policy;

// The policy as it lives in a pool. Every pointer points into the same pool, strings are NUL-terminated
// UTF-8 (AllocateUtf8), and once the pool is protected not one of these bytes can change.

/// <summary>A role: its name and the roles it inherits from (all declared before it).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct RoleRecord
{
    public byte* Name;
    public int Line;
    public int ParentCount;
    public RoleRecord** Parents;
}

/// <summary>A subject, and its effective roles: the roles it was given plus everything they inherit.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct UserRecord
{
    public byte* Name;
    public int Line;
    public int RoleCount;
    public RoleRecord** Roles;
}

/// <summary>One <c>allow ROLE ACTION OBJECT</c> rule, as written.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct RuleRecord
{
    public RoleRecord* Role;
    public byte* Action;
    public byte* Object;
    public int Line;
}

/// <summary>What the permission index maps "ACTION OBJECT" to: the roles allowed to do it.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct PermissionRecord
{
    public int RoleCount;
    public RoleRecord** Roles;
}

/// <summary>The root of a loaded policy: the one pointer a reader needs (and the one a reload swaps).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct PolicyRoot
{
    public byte* Name;
    public int Version;
    public int Roles;
    public int Users;
    public int Rules;

    /// <summary>A GC handle to the <see cref="PolicyIndexes"/>, whose tables live in this pool too.</summary>
    public nint Indexes;
}
