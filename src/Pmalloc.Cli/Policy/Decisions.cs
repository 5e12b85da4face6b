namespace Pmalloc.Cli.Policy;

/// <summary>The query path: may USER do ACTION on OBJECT? Reads protected pool memory (records and index tables), takes no lock, allocates nothing.</summary>
internal static unsafe class Decisions
{
    /// <summary>The permission index's key: action and object, separated by a space (the format's fields have none).</summary>
    internal static string PermissionKey(string action, string obj) => $"{action} {obj}";

    /// <summary>Allowed when one of the user's effective roles is among the roles the rules allow for this action on this object.</summary>
    internal static bool IsAllowed(PolicyRoot* root, ReadOnlySpan<char> user, ReadOnlySpan<char> action, ReadOnlySpan<char> obj)
    {
        PolicyIndexes indexes = PolicyIndexes.FromHandle(root->Indexes);
        if (!indexes.Users.TryGetValue(user, out nint found))
        {
            return false;
        }

        UserRecord* subject = (UserRecord*)found;
        int length = action.Length + 1 + obj.Length;

        // The key of any loadable rule fits on the stack (fields are at most PolicyLoader.MaxFieldLength): no query allocates.
        Span<char> key = length <= (2 * PolicyLoader.MaxFieldLength) + 1 ? stackalloc char[length] : new char[length];
        action.CopyTo(key);
        key[action.Length] = ' ';
        obj.CopyTo(key[(action.Length + 1)..]);
        if (!indexes.Permissions.TryGetValue(key, out nint allowed))
        {
            return false;
        }

        PermissionRecord* permission = (PermissionRecord*)allowed;
        if (subject->RoleCount <= 8)
        {
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

        // A long list of effective roles (a deep hierarchy) is sorted by address: search it, so a query stays linear in the rule's roles.
        ReadOnlySpan<nint> effective = new(subject->Roles, subject->RoleCount);
        for (int i = 0; i < permission->RoleCount; i++)
        {
            if (effective.BinarySearch((nint)permission->Roles[i]) >= 0)
            {
                return true;
            }
        }

        return false;
    }
}
