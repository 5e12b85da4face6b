namespace Pmalloc.Cli.Policy;

/// <summary>A malformed policy line; the load that met it left the pool as it was.</summary>
internal sealed class PolicyFormatException(string source, int line, string message)
    : FormatException($"{source}:{line}: {message}")
{
    internal string SourceName { get; } = source;

    internal int Line { get; } = line;

    internal string Reason { get; } = message;
}

/// <summary>
/// Reads the policy text format (README, "The policy format") straight into a pool, one line at a time,
/// as a kernel policy loader does: roles, users and rules become structs, their strings UTF-8, and the
/// lookup indexes are built in the pool at the end.
/// </summary>
/// <remarks>
/// A malformed line aborts the load, and every allocation the load made is handed back with
/// <see cref="ProtectablePool.Free"/>, newest first: the seed's reason for <c>pfree</c>. The pool is then
/// exactly as it was (its <see cref="PoolStatistics"/> compare equal).
/// </remarks>
internal sealed unsafe class PolicyLoader
{
    private readonly ProtectablePool _pool;
    private readonly string _source;

    /// <summary>Every allocation of this load, in order, for the rollback.</summary>
    private readonly List<nint> _allocations = [];

    /// <summary>Each distinct string once in the pool.</summary>
    private readonly Dictionary<string, nint> _strings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, nint> _roles = new(StringComparer.Ordinal);
    private readonly Dictionary<string, nint> _users = new(StringComparer.Ordinal);

    /// <summary>Effective roles (the role and all it inherits) per role, computed once.</summary>
    private readonly Dictionary<nint, nint[]> _closures = [];

    /// <summary>"ACTION OBJECT" → the roles allowed, gathered while reading, laid out in the pool at the end.</summary>
    private readonly Dictionary<string, List<nint>> _permissions = new(StringComparer.Ordinal);

    private readonly List<(string Action, string Object)> _pairs = [];
    private PolicyIndexes? _indexes;
    private string _name = "policy";
    private int _version = 1;
    private int _rules;
    private int _line;

    private PolicyLoader(ProtectablePool pool, string source)
    {
        _pool = pool;
        _source = source;
    }

    /// <summary>Loads the policy file at <paramref name="path"/> into <paramref name="pool"/>.</summary>
    /// <exception cref="PolicyFormatException">A line is malformed; nothing was left allocated.</exception>
    internal static LoadedPolicy LoadFile(ProtectablePool pool, string path) =>
        Load(pool, File.ReadLines(path), Path.GetFileName(path));

    /// <summary>Loads policy <paramref name="lines"/> into <paramref name="pool"/>; <paramref name="source"/> names them in errors.</summary>
    /// <exception cref="PolicyFormatException">A line is malformed; nothing was left allocated.</exception>
    internal static LoadedPolicy Load(ProtectablePool pool, IEnumerable<string> lines, string source)
    {
        PolicyLoader loader = new(pool, source);

        // The index tables are allocated inside ProtectedDictionary: the checkpoint returns them if the load fails after they are built.
        PoolCheckpoint mark = pool.Checkpoint();
        try
        {
            foreach (string line in lines)
            {
                loader._line++;
                loader.ReadLine(line);
            }

            return loader.Finish();
        }
        catch
        {
            // Newest first, so the pool's bump cursor falls back and chunks emptied by this load are unmapped.
            for (int i = loader._allocations.Count - 1; i >= 0; i--)
            {
                pool.Free(loader._allocations[i]);
            }

            pool.RollbackTo(mark);
            loader._indexes?.Dispose();

            throw;
        }
    }

    private void ReadLine(string text)
    {
        int hash = text.IndexOf('#', StringComparison.Ordinal);
        string[] f = (hash >= 0 ? text[..hash] : text).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (f.Length == 0)
        {
            return;
        }

        switch (f[0])
        {
            case "policy":
                Expect(f.Length == 3 && int.TryParse(f[2], out _version) && _version > 0, "expected 'policy NAME VERSION' with a positive version");
                Expect(_roles.Count + _users.Count + _rules == 0, "'policy' must come before every role, user and rule");
                _name = f[1];
                break;
            case "role":
                Expect(f.Length == 2 || (f.Length > 3 && f[2] == "inherits"), "expected 'role NAME' or 'role NAME inherits PARENT...'");
                AddRole(f[1], f.Length > 3 ? f[3..] : []);
                break;
            case "user":
                Expect(f.Length >= 3, "expected 'user NAME ROLE...'");
                AddUser(f[1], f[2..]);
                break;
            case "allow":
                Expect(f.Length == 4, "expected 'allow ROLE ACTION OBJECT'");
                AddRule(f[1], f[2], f[3]);
                break;
            default:
                Fail($"unknown keyword '{f[0]}' (expected policy, role, user or allow)");
                break;
        }
    }

    private void AddRole(string name, string[] parents)
    {
        Expect(!_roles.ContainsKey(name), $"role '{name}' is declared twice");
        RoleRecord* role = Allocate<RoleRecord>();
        role->Name = String(name);
        role->Line = _line;
        role->ParentCount = parents.Length;
        role->Parents = parents.Length == 0 ? null : (RoleRecord**)Track(_pool.Allocate((nuint)(parents.Length * sizeof(nint))));
        HashSet<nint> closure = [(nint)role];
        for (int i = 0; i < parents.Length; i++)
        {
            nint parent = Role(parents[i]);
            role->Parents[i] = (RoleRecord*)parent;
            closure.UnionWith(_closures[parent]);
        }

        _roles.Add(name, (nint)role);
        _closures.Add((nint)role, [.. closure]);
    }

    private void AddUser(string name, string[] roles)
    {
        Expect(!_users.ContainsKey(name), $"user '{name}' is declared twice");
        HashSet<nint> effective = [];
        foreach (string role in roles)
        {
            effective.UnionWith(_closures[Role(role)]);
        }

        UserRecord* user = Allocate<UserRecord>();
        user->Name = String(name);
        user->Line = _line;
        user->RoleCount = effective.Count;
        user->Roles = (RoleRecord**)Track(_pool.Allocate((nuint)(effective.Count * sizeof(nint))));
        int n = 0;
        foreach (nint role in effective)
        {
            user->Roles[n++] = (RoleRecord*)role;
        }

        _users.Add(name, (nint)user);
    }

    private void AddRule(string roleName, string action, string obj)
    {
        nint role = Role(roleName);
        string key = Decisions.PermissionKey(action, obj);
        if (!_permissions.TryGetValue(key, out List<nint>? allowed))
        {
            _permissions.Add(key, allowed = []);
            _pairs.Add((action, obj));
        }

        Expect(!allowed.Contains(role), $"rule 'allow {roleName} {action} {obj}' is given twice");
        RuleRecord* rule = Allocate<RuleRecord>();
        rule->Role = (RoleRecord*)role;
        rule->Action = String(action);
        rule->Object = String(obj);
        rule->Line = _line;
        allowed.Add(role);
        _rules++;
    }

    /// <summary>Lays out the permission records, both indexes and the root; the load's last allocations.</summary>
    private LoadedPolicy Finish()
    {
        Expect(_users.Count > 0, "the policy declares no user");
        List<KeyValuePair<string, nint>> permissions = new(_permissions.Count);
        foreach ((string key, List<nint> roles) in _permissions)
        {
            PermissionRecord* permission = Allocate<PermissionRecord>();
            permission->RoleCount = roles.Count;
            permission->Roles = (RoleRecord**)Track(_pool.Allocate((nuint)(roles.Count * sizeof(nint))));
            roles.CopyTo(new Span<nint>(permission->Roles, roles.Count));
            permissions.Add(new(key, (nint)permission));
        }

        PolicyRoot* root = Allocate<PolicyRoot>();
        root->Name = String(_name);
        root->Version = _version;
        root->Roles = _roles.Count;
        root->Users = _users.Count;
        root->Rules = _rules;
        _indexes = new PolicyIndexes(_pool, _roles, _users, permissions);
        root->Indexes = _indexes.Handle;
        return new LoadedPolicy(_indexes, (nint)root, _name, _version, [.. _roles.Keys], [.. _users.Keys], [.. _pairs], _rules);
    }

    private nint Role(string name)
    {
        Expect(_roles.TryGetValue(name, out nint role), $"role '{name}' is not declared (declare it above with 'role {name}')");
        return role;
    }

    private T* Allocate<T>()
        where T : unmanaged => (T*)Track(_pool.Allocate((nuint)sizeof(T)));

    private byte* String(string text)
    {
        if (!_strings.TryGetValue(text, out nint address))
        {
            address = Track(_pool.AllocateUtf8(text));
            _strings.Add(text, address);
        }

        return (byte*)address;
    }

    private nint Track(nint address)
    {
        _allocations.Add(address);
        return address;
    }

    private void Expect([System.Diagnostics.CodeAnalysis.DoesNotReturnIf(false)] bool condition, string message)
    {
        if (!condition)
        {
            Fail(message);
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void Fail(string message) => throw new PolicyFormatException(_source, _line, message);
}

/// <summary>
/// A policy loaded into a pool: the address of its <see cref="PolicyRoot"/> and its indexes, plus the names it
/// mentions (kept on the managed side only to generate demo queries). <see cref="Dispose"/> frees the indexes'
/// GC handle; the pool's owner destroys the pool.
/// </summary>
internal sealed record LoadedPolicy(PolicyIndexes Indexes, nint Root, string Name, int Version, string[] Roles, string[] Users, (string Action, string Object)[] Permissions, int Rules) : IDisposable
{
    /// <summary>The pool-resident record of user <paramref name="name"/>, or null.</summary>
    public void Dispose() => Indexes.Dispose();

    internal unsafe UserRecord* FindUser(string name) => Indexes.Users.TryGetValue(name, out nint user) ? (UserRecord*)user : null;

    /// <summary>The pool-resident record of role <paramref name="name"/>, or null.</summary>
    internal unsafe RoleRecord* FindRole(string name) => Indexes.Roles.TryGetValue(name, out nint role) ? (RoleRecord*)role : null;
}
