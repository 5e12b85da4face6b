using System.Runtime.InteropServices;

namespace Pmalloc.Cli;

/// <summary>
/// The attack catalog: each case builds a pool, protects it, then does one forbidden thing. A case runs
/// alone in a child process (<c>pmalloc attack NAME</c>), because a successful defence against a write
/// is the death of the process: the runtime turns the hardware fault into a fail-fast
/// <see cref="AccessViolationException"/> and the process exits with status 134 (on Windows with the fail-fast's
/// NTSTATUS, <see cref="ChildResult.WindowsFailFastStatuses"/>).
/// </summary>
internal static unsafe partial class Attacks
{
    /// <summary>What the child prints on stdout just before the forbidden step, so a death before it is told apart.</summary>
    internal const string ReadyMarker = "ATTACK-READY";

    /// <summary>What the child prints if the forbidden step did not stop it.</summary>
    internal const string SurvivedMarker = "ATTACK-SURVIVED";

    /// <summary>Exit status when the library refused the step with an exception (printed as "refused: TYPE: MESSAGE").</summary>
    internal const int RefusedExitCode = 3;

    /// <summary>Exit status when the attack looked for what it needs and found nothing (printed as "found nothing: WHAT").</summary>
    internal const int FoundNothingExitCode = 4;

    /// <summary>Every case by name, in the order selftest shows them.</summary>
    internal static readonly IReadOnlyDictionary<string, Attack> Cases = Catalog();

    private static Dictionary<string, Attack> Catalog()
    {
        Dictionary<string, Attack> cases = [];
        void Add(Attack attack) => cases.Add(attack.Name, attack);
        AddCoreCases(Add);
        AddWriteRareCases(Add);
        AddSealingCases(Add);
        AddCollectionCases(Add);
        AddWindowsCases(Add);
        return cases;
    }

    /// <summary>The write-rare and object-cache cases (Attacks.WriteRare.cs).</summary>
    static partial void AddWriteRareCases(Action<Attack> add);

    /// <summary>The usercopy, sealing and secrets cases (Attacks.Sealing.cs).</summary>
    static partial void AddSealingCases(Action<Attack> add);

    /// <summary>The protected-collection cases (Attacks.Collections.cs).</summary>
    static partial void AddCollectionCases(Action<Attack> add);

    /// <summary>The Windows-only cases (Attacks.Windows.cs).</summary>
    static partial void AddWindowsCases(Action<Attack> add);

    private static void AddCoreCases(Action<Attack> add)
    {
        add(new("write-pointer", "write through a pointer after Protect", Outcome.AccessViolation, () =>
        {
            using WriteOncePool pool = ProtectedSecret(out nint p);
            Ready();
            *(long*)p = 0x0BAD;
        }));
        add(new("write-span", "write through a Span<T> taken before Protect", Outcome.AccessViolation, () =>
        {
            using WriteOncePool pool = new(new PoolOptions { Name = "attack-span" });
            Span<long> span = pool.AllocateArray<long>(8);
            span.Fill(42);
            pool.Protect();
            Ready();
            span[3] = 0x0BAD;
        }));
        add(new("write-memorycopy", "Buffer.MemoryCopy into protected memory", Outcome.AccessViolation, () =>
        {
            using WriteOncePool pool = ProtectedSecret(out nint p);
            long evil = 0x0BAD;
            Ready();
            Buffer.MemoryCopy(&evil, (void*)p, sizeof(long), sizeof(long));
        }));
        add(new("write-policy-rule", "the demo's attack: a user grants itself the admin role by writing to its rule", Outcome.AccessViolation, () =>
            Demo.AttackInThisProcess(Path.Combine(AppContext.BaseDirectory, "samples", "policy.txt"))));
        add(new("read-after-dispose", "read through a pointer after Dispose (unmapped)", Outcome.AccessViolation, () =>
        {
            // Once unmapped, the address range may be reused by the next mapping anyone makes, the runtime's own included:
            // the JIT maps a writable view of its code heap for each method it compiles, and such a view was seen to land
            // in the range Dispose had just unmapped. So one pool lives and dies first, and every method Dispose runs is
            // compiled before the range is unmapped; and the announcement comes first (printing can map memory).
            ProtectedSecret(out _).Dispose();
            WriteOncePool pool = ProtectedSecret(out nint p);
            Ready();
            pool.Dispose();
            Console.WriteLine(*(long*)p);
        }));
        add(new("free-after-protect", "Free after Protect", Outcome.Refused, () =>
        {
            using WriteOncePool pool = ProtectedSecret(out nint p);
            Ready();
            pool.Free(p);
        }));
        add(new("allocate-after-protect", "Allocate after Protect", Outcome.Refused, () =>
        {
            using WriteOncePool pool = ProtectedSecret(out _);
            Ready();
            pool.Allocate(16);
        }));
        add(new("over-read", "Read past the end of an allocation", Outcome.Refused, () =>
        {
            using WriteOncePool pool = ProtectedSecret(out nint p);
            Ready();
            pool.Read(p, new byte[64]);
        }));
    }

    /// <summary>Runs the case named in <paramref name="args"/> in this process. Returns only if the case was refused or survived.</summary>
    internal static int RunInThisProcess(string[] args)
    {
        if (args.Length != 1 || !Cases.TryGetValue(args[0], out Attack? attack) || !attack.RunsHere)
        {
            throw new CliUsageException(args.Length == 1 ? $"no attack case '{args[0]}'; 'pmalloc attack --help' lists them" : "give one attack case");
        }

        try
        {
            attack.Run();
        }
        catch (FoundNothingException e)
        {
            Console.WriteLine($"found nothing: {e.Message}");
            return FoundNothingExitCode;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or UnauthorizedAccessException or IOException)
        {
            Console.WriteLine($"refused: {e.GetType().Name}: {e.Message}");
            return RefusedExitCode;
        }

        Console.WriteLine(SurvivedMarker);
        return 0;
    }

    /// <summary>A protected pool holding one 8-byte secret.</summary>
    internal static WriteOncePool ProtectedSecret(out nint address)
    {
        WriteOncePool pool = new(new PoolOptions { Name = "attack" });
        address = pool.Allocate(sizeof(long));
        *(long*)address = 0x5EC12E7;
        pool.Protect();
        return pool;
    }

    /// <summary>Announces the forbidden step, which comes next.</summary>
    internal static void Ready()
    {
        Console.WriteLine(ReadyMarker);
        Console.Out.Flush();
    }
}

/// <summary>How an attack is expected to end.</summary>
internal enum Outcome
{
    /// <summary>The hardware fault stopped it: the runtime's AccessViolationException, exit status 134 (Windows: a fail-fast status).</summary>
    AccessViolation,

    /// <summary>The library or the kernel refused it with an exception (exit status 3).</summary>
    Refused,

    /// <summary>It was not blocked: the child printed the survived marker and exited 0 (a documented limit, such as /proc/self/mem).</summary>
    NotBlocked,

    /// <summary>A fault in native code: the runtime does not convert it, the kernel kills the process with SIGSEGV (exit status 139).</summary>
    Segfault,

    /// <summary>The attack searched for what it needs (a writable mapping, a copy of a secret) and found nothing (exit status 4).</summary>
    FoundNothing,
}

/// <summary>An attack that searched and found nothing to use: how a search-based case reports its defeat.</summary>
internal sealed class FoundNothingException(string message) : Exception(message);

/// <summary>
/// One attack: its name on the command line, what it tries, how it should end, and the code that tries it.
/// <paramref name="LinuxOnly"/>: it needs Linux (sealing, memfds, /proc, libc), and Windows runs and lists it not;
/// <paramref name="WindowsOnly"/>: it needs Windows (kernel32), and Linux runs and lists it not.
/// </summary>
internal sealed record Attack(string Name, string Description, Outcome Expected, Action Run, bool LinuxOnly = false, bool WindowsOnly = false)
{
    /// <summary>Does this attack run on the OS this process runs on?</summary>
    internal bool RunsHere => (!LinuxOnly || OperatingSystem.IsLinux()) && (!WindowsOnly || OperatingSystem.IsWindows());
}
