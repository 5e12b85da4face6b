using System.Runtime.InteropServices;

namespace Pmalloc.Cli;

/// <summary>
/// The attack catalog: each case builds a pool, protects it, then does one forbidden thing. A case runs
/// alone in a child process (<c>pmalloc attack NAME</c>), because a successful defence against a write
/// is the death of the process: the runtime turns the hardware fault into a fail-fast
/// <see cref="AccessViolationException"/> and the process exits with status 134.
/// </summary>
internal static unsafe class Attacks
{
    /// <summary>What the child prints on stdout just before the forbidden step, so a death before it is told apart.</summary>
    internal const string ReadyMarker = "ATTACK-READY";

    /// <summary>What the child prints if the forbidden step did not stop it.</summary>
    internal const string SurvivedMarker = "ATTACK-SURVIVED";

    /// <summary>Exit status when the library refused the step with an exception (printed as "refused: TYPE: MESSAGE").</summary>
    internal const int RefusedExitCode = 3;

    /// <summary>Every case by name.</summary>
    internal static readonly IReadOnlyDictionary<string, Action> Cases = new Dictionary<string, Action>
    {
        ["write-pointer"] = () =>
        {
            using WriteOncePool pool = ProtectedSecret(out nint p);
            Ready();
            *(long*)p = 0x0BAD;
        },
        ["write-span"] = () =>
        {
            using WriteOncePool pool = new(new PoolOptions { Name = "attack-span" });
            Span<long> span = pool.AllocateArray<long>(8);
            span.Fill(42);
            pool.Protect();
            Ready();
            span[3] = 0x0BAD;
        },
        ["write-memorycopy"] = () =>
        {
            using WriteOncePool pool = ProtectedSecret(out nint p);
            long evil = 0x0BAD;
            Ready();
            Buffer.MemoryCopy(&evil, (void*)p, sizeof(long), sizeof(long));
        },
        ["read-after-dispose"] = () =>
        {
            WriteOncePool pool = ProtectedSecret(out nint p);
            pool.Dispose();
            Ready();
            Console.WriteLine(*(long*)p);
        },
        ["free-after-protect"] = () =>
        {
            using WriteOncePool pool = ProtectedSecret(out nint p);
            Ready();
            pool.Free(p);
        },
        ["allocate-after-protect"] = () =>
        {
            using WriteOncePool pool = ProtectedSecret(out _);
            Ready();
            pool.Allocate(16);
        },
        ["over-read"] = () =>
        {
            using WriteOncePool pool = ProtectedSecret(out nint p);
            Ready();
            pool.Read(p, new byte[64]);
        },
    };

    /// <summary>Runs the case named in <paramref name="args"/> in this process. Returns only if the case was refused or survived.</summary>
    internal static int RunInThisProcess(string[] args)
    {
        if (args.Length != 1 || !Cases.TryGetValue(args[0], out Action? attack))
        {
            throw new CliUsageException($"expected one of: {string.Join(", ", Cases.Keys)}");
        }

        try
        {
            attack();
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
    private static WriteOncePool ProtectedSecret(out nint address)
    {
        WriteOncePool pool = new(new PoolOptions { Name = "attack" });
        address = pool.Allocate(sizeof(long));
        *(long*)address = 0x5EC12E7;
        pool.Protect();
        return pool;
    }

    /// <summary>Announces the forbidden step, which comes next.</summary>
    private static void Ready()
    {
        Console.WriteLine(ReadyMarker);
        Console.Out.Flush();
    }
}
