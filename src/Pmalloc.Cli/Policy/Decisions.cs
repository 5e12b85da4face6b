namespace Pmalloc.Cli.Policy;

/// <summary>The query path: may USER do ACTION on OBJECT? Reads only pool memory, takes no lock, allocates nothing.</summary>
internal static unsafe class Decisions
{
    /// <summary>The permission index's key: action and object, separated by a space (the format's fields have none).</summary>
    internal static string PermissionKey(string action, string obj) => $"{action} {obj}";

    /// <summary>Allowed when one of the user's effective roles is among the roles the rules allow for this action on this object.</summary>
    internal static bool IsAllowed(PolicyRoot* root, ReadOnlySpan<char> user, ReadOnlySpan<char> action, ReadOnlySpan<char> obj)
    {
        UserRecord* subject = (UserRecord*)PoolIndex.At(root->UserIndex).Lookup(user);
        if (subject == null)
        {
            return false;
        }

        int length = action.Length + 1 + obj.Length;
        Span<char> key = length <= 256 ? stackalloc char[length] : new char[length];
        action.CopyTo(key);
        key[action.Length] = ' ';
        obj.CopyTo(key[(action.Length + 1)..]);
        PermissionRecord* permission = (PermissionRecord*)PoolIndex.At(root->PermissionIndex).Lookup(key);
        if (permission == null)
        {
            return false;
        }

        // Both lists are short (a handful of roles): a nested scan beats any set.
        for (int i = 0; i < permission->RoleCount; i++)
        {
            for (int j = 0; j < subject->RoleCount; j++)
            {
                if (permission->Roles[i] == subject->Roles[j])
                {
                    return true;
                }
            }
        }

        return false;
    }
}
