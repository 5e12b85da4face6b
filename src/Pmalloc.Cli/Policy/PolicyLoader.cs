using System.Text;

namespace Pmalloc.Cli.Policy;

/// <summary>A malformed policy line, or a policy over the loader's limits; the load that met it left the pool as it was.</summary>
/// <remarks>Whatever of the input the message quotes went through <see cref="TerminalText.Clean"/>.</remarks>
internal sealed class PolicyFormatException(string source, int line, string message)
    : FormatException($"{source}:{line}: {message}")
{
    internal string SourceName { get; } = source;

    internal int Line { get; } = line;

    internal string Reason { get; } = message;
}

/// <summary>The policy file could not be opened or read (permission, a directory, an I/O error); the pool was left as it was.</summary>
/// <remarks>The message is one line, safe to echo.</remarks>
internal sealed class PolicyReadException(string path, Exception inner)
    : IOException(TerminalText.Clean($"cannot read the policy file '{path}': {Reason(inner)}", 400), inner)
{
    private static string Reason(Exception e) => e switch
    {
        UnauthorizedAccessException => "permission denied (or it is a directory)",
        _ => e.Message.ReplaceLineEndings(" "),
    };
}

/// <summary>
/// Reads the policy text format (README, "The policy format") straight into a pool, one line at a time,
/// as a kernel policy loader does: roles, users and rules become structs, their strings UTF-8, and the
/// lookup indexes are built in the pool at the end.
/// </summary>
/// <remarks>
/// <para>A malformed line aborts the load, and every allocation the load made is handed back with
/// <see cref="ProtectablePool.Free"/>, newest first: the seed's reason for <c>pfree</c>. The pool is then
/// exactly as it was (its <see cref="PoolStatistics"/> compare equal).</para>
/// <para><b>Hostile input.</b> A policy file is input from outside, so the loader bounds what it costs: a line is read
/// into at most <see cref="MaxLineLength"/> characters (a longer one, or a file with no line ends such as
/// <c>/dev/zero</c>, is an error naming the file and line, not an unbounded buffer), a field is at most
/// <see cref="MaxFieldLength"/> characters, the whole file at most <see cref="MaxPolicyLength"/>. Inheritance is resolved
/// per user by a walk of the roles it reaches, in memory linear in the policy (no closure is kept per role), within
/// <see cref="MaxInheritanceSteps"/> steps and <see cref="MaxEffectiveRoles"/> effective roles in all. Every name an error
/// quotes is cut and stripped of control characters (<see cref="TerminalText"/>). Read errors are a
/// <see cref="PolicyReadException"/>.</para>
/// </remarks>
internal sealed unsafe class PolicyLoader
{
    /// <summary>The longest line, in characters.</summary>
    internal const int MaxLineLength = 16 * 1024;

    /// <summary>The longest field (a name, an action, an object), in characters.</summary>
    internal const int MaxFieldLength = 1024;

    /// <summary>The longest policy, in characters (64 Mi).</summary>
    internal const long MaxPolicyLength = 64L << 20;

    /// <summary>The users' effective roles (the roles given plus everything they inherit), added up over all users: 4 Mi (32 MiB of pool memory).</summary>
    internal const long MaxEffectiveRoles = 4L << 20;

    /// <summary>The steps of the inheritance walks, added up over all users (each step follows one parent link): 64 Mi.</summary>
    internal const long MaxInheritanceSteps = 64L << 20;

    private readonly ProtectablePool _pool;
    private readonly string _source;

    /// <summary>Every allocation of this load, in order, for the rollback.</summary>
    private readonly List<nint> _allocations = [];

    /// <summary>Each distinct string once in the pool.</summary>
    private readonly Dictionary<string, nint> _strings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, nint> _roles = new(StringComparer.Ordinal);
    private readonly Dictionary<string, nint> _users = new(StringComparer.Ordinal);

    /// <summary>Role name → its number in <see cref="_roleRecords"/> and <see cref="_roleParents"/>.</summary>
    private readonly Dictionary<string, int> _roleIds = new(StringComparer.Ordinal);

    /// <summary>Per role number: its record in the pool.</summary>
    private readonly List<nint> _roleRecords = [];

    /// <summary>Per role number: the numbers of its parents, as declared.</summary>
    private readonly List<int[]> _roleParents = [];

    /// <summary>Per role number: the walk that last reached it (<see cref="_walk"/>), so that one walk visits each role once.</summary>
    private int[] _reachedBy = new int[64];

    /// <summary>The number of the current inheritance walk (one per user).</summary>
    private int _walk;

    private readonly Stack<int> _pending = new();
    private readonly List<nint> _effective = [];
    private long _effectiveTotal;
    private long _inheritanceSteps;

    /// <summary>"ACTION OBJECT" → the roles allowed, gathered while reading, laid out in the pool at the end.</summary>
    private readonly Dictionary<string, List<nint>> _permissions = new(StringComparer.Ordinal);

    /// <summary>Every rule given so far, as (ACTION OBJECT, role), to refuse a repeated one in constant time.</summary>
    private readonly HashSet<(string Key, nint Role)> _rulesGiven = [];

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
    /// <exception cref="PolicyFormatException">A line is malformed, or the policy is over a limit; nothing was left allocated.</exception>
    /// <exception cref="PolicyReadException">The file cannot be opened or read; nothing was left allocated.</exception>
    internal static LoadedPolicy LoadFile(ProtectablePool pool, string path)
    {
        string source = TerminalText.Clean(Path.GetFileName(path));
        StreamReader reader;
        try
        {
            reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new PolicyReadException(path, e);
        }

        using (reader)
        {
            return Load(pool, ReadLines(reader, source, path), source);
        }
    }

    /// <summary>
    /// The lines of <paramref name="reader"/>, each read into at most <see cref="MaxLineLength"/> characters, the whole at
    /// most <see cref="MaxPolicyLength"/>: past either, a <see cref="PolicyFormatException"/> naming the line, before the
    /// rest is read. A read error is a <see cref="PolicyReadException"/>.
    /// </summary>
    internal static IEnumerable<string> ReadLines(TextReader reader, string source, string path)
    {
        char[] buffer = new char[64 * 1024];
        StringBuilder line = new();
        int number = 1;
        long total = 0;
        int read;
        while ((read = Read(reader, buffer, path)) > 0)
        {
            total += read;
            if (total > MaxPolicyLength)
            {
                throw new PolicyFormatException(source, number, $"the policy is longer than {MaxPolicyLength:N0} characters, the loader's limit");
            }

            ReadOnlyMemory<char> rest = buffer.AsMemory(0, read);
            while (!rest.IsEmpty)
            {
                int end = rest.Span.IndexOf('\n');
                ReadOnlyMemory<char> part = end < 0 ? rest : rest[..end];
                if (line.Length + part.Length > MaxLineLength)
                {
                    throw new PolicyFormatException(source, number, $"the line is longer than {MaxLineLength:N0} characters, the loader's limit");
                }

                line.Append(part);
                if (end < 0)
                {
                    break;
                }

                yield return line.ToString();
                line.Clear();
                number++;
                rest = rest[(end + 1)..];
            }
        }

        if (line.Length > 0)
        {
            yield return line.ToString();
        }
    }

    private static int Read(TextReader reader, char[] buffer, string path)
    {
        try
        {
            return reader.Read(buffer, 0, buffer.Length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new PolicyReadException(path, e);
        }
    }

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
        Expect(text.Length <= MaxLineLength, $"the line is longer than {MaxLineLength:N0} characters, the loader's limit");
        int hash = text.IndexOf('#', StringComparison.Ordinal);
        string[] f = (hash >= 0 ? text[..hash] : text).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (f.Length == 0)
        {
            return;
        }

        foreach (string field in f)
        {
            Expect(field.Length <= MaxFieldLength, $"a field is {field.Length:N0} characters long ({Shown(field)}); the limit is {MaxFieldLength:N0}");
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
                Fail($"unknown keyword '{Shown(f[0])}' (expected policy, role, user or allow)");
                break;
        }
    }

    private void AddRole(string name, string[] parents)
    {
        Expect(!_roles.ContainsKey(name), $"role '{Shown(name)}' is declared twice");
        int[] parentIds = new int[parents.Length];
        for (int i = 0; i < parents.Length; i++)
        {
            parentIds[i] = RoleId(parents[i]);
        }

        RoleRecord* role = Allocate<RoleRecord>();
        role->Name = String(name);
        role->Line = _line;
        role->ParentCount = parents.Length;
        role->Parents = parents.Length == 0 ? null : (RoleRecord**)Track(_pool.Allocate((nuint)(parents.Length * sizeof(nint))));
        for (int i = 0; i < parents.Length; i++)
        {
            role->Parents[i] = (RoleRecord*)_roleRecords[parentIds[i]];
        }

        _roles.Add(name, (nint)role);
        _roleIds.Add(name, _roleRecords.Count);
        _roleRecords.Add((nint)role);
        _roleParents.Add(parentIds);
        if (_roleRecords.Count > _reachedBy.Length)
        {
            Array.Resize(ref _reachedBy, _reachedBy.Length * 2);
        }
    }

    private void AddUser(string name, string[] roles)
    {
        Expect(!_users.ContainsKey(name), $"user '{Shown(name)}' is declared twice");
        List<nint> effective = EffectiveRoles(name, roles);
        UserRecord* user = Allocate<UserRecord>();
        user->Name = String(name);
        user->Line = _line;
        user->RoleCount = effective.Count;
        user->Roles = (RoleRecord**)Track(_pool.Allocate((nuint)(effective.Count * sizeof(nint))));
        for (int i = 0; i < effective.Count; i++)
        {
            user->Roles[i] = (RoleRecord*)effective[i];
        }

        _users.Add(name, (nint)user);
    }

    /// <summary>
    /// The records of the roles given plus every role they inherit, each once: a walk up the parent links that visits each
    /// role at most once, in memory linear in the roles (no closure is kept per role: a chain of n roles would make those
    /// n²/2 entries). Bounded in all by <see cref="MaxInheritanceSteps"/> and <see cref="MaxEffectiveRoles"/>.
    /// </summary>
    private List<nint> EffectiveRoles(string user, string[] roles)
    {
        _walk++;
        _effective.Clear();
        _pending.Clear();
        foreach (string role in roles)
        {
            Reach(RoleId(role));
        }

        while (_pending.TryPop(out int role))
        {
            foreach (int parent in _roleParents[role])
            {
                Expect(++_inheritanceSteps <= MaxInheritanceSteps,
                    $"resolving the roles of user '{Shown(user)}' takes the inheritance walks past {MaxInheritanceSteps:N0} steps, the loader's limit: the role hierarchy is too dense");
                Reach(parent);
            }
        }

        // Sorted by address: the query path binary-searches a long list (see Decisions.IsAllowed).
        _effective.Sort();
        return _effective;

        void Reach(int role)
        {
            if (_reachedBy[role] != _walk)
            {
                _reachedBy[role] = _walk;
                Expect(++_effectiveTotal <= MaxEffectiveRoles,
                    $"user '{Shown(user)}' takes the users' effective roles (the roles given plus everything they inherit) past {MaxEffectiveRoles:N0} in all, the loader's limit");
                _effective.Add(_roleRecords[role]);
                _pending.Push(role);
            }
        }
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

        Expect(_rulesGiven.Add((key, role)), $"rule 'allow {Shown(roleName)} {Shown(action)} {Shown(obj)}' is given twice");
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

    private nint Role(string name) => _roleRecords[RoleId(name)];

    private int RoleId(string name)
    {
        Expect(_roleIds.TryGetValue(name, out int id), $"role '{Shown(name)}' is not declared (declare it above with 'role {Shown(name)}')");
        return id;
    }

    /// <summary>A field of the input as an error message may quote it: cut, and without control characters.</summary>
    private static string Shown(string field) => TerminalText.Clean(field);

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
