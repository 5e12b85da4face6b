using System.Diagnostics;
using System.Runtime.InteropServices;
using Pmalloc.Cli.Policy;
using Spectre.Console;

namespace Pmalloc.Cli;

/// <summary>
/// <c>pmalloc demo</c>: the seed's case study (the SELinux policy database) with a .NET-sized policy. Load it
/// into a write-once pool, roll back a malformed file with <c>Free</c>, protect, answer queries, reload a new
/// version behind a published root pointer, and watch a child process die trying to grant itself a role.
/// </summary>
internal static unsafe class Demo
{
    /// <summary>Sample queries whose decisions are compared across the reload and the attack.</summary>
    private const int SampleQueries = 1 << 16;

    private sealed class Options
    {
        internal string Samples { get; } = Path.Combine(AppContext.BaseDirectory, "samples");
        internal string Policy { get; set; } = "";
        internal string? Reload { get; set; }
        internal long Queries { get; set; } = 2_000_000;
        internal bool Json { get; set; }
        internal bool Hold { get; set; }
        internal bool Attack { get; set; }

        /// <summary>True when <c>--policy</c> named the user's own file: the rollback step then breaks a copy of it.</summary>
        internal bool OwnPolicy { get; set; }
    }

    internal static int Run(string[] args)
    {
        Options o = Parse(args);
        if (o.Attack)
        {
            return AttackInThisProcess(o.Policy);
        }

        Report report = new(o.Json);
        using RootSlot slot = new();

        // A malformed policy of the user's throws PolicyFormatException, naming file and line: the program reports it (exit 1); an unreadable one PolicyReadException (exit 2).
        DemoSummary summary = RunDemo(o, report, slot, out ProtectablePool current, out LoadedPolicy currentPolicy);

        try
        {
            if (o.Json)
            {
                Json.Print(summary, Json.Types.DemoSummary);
            }

            if (o.Hold)
            {
                Hold(o.Json, current);
            }
        }
        finally
        {
            current.Dispose();
            currentPolicy.Dispose();
        }

        return summary.Attack.Stopped && summary.Attack.DecisionsUnchanged && summary.Rollback.StatisticsUnchanged ? 0 : 1;
    }

    private static Options Parse(string[] args)
    {
        Options o = new();
        o.Policy = Path.Combine(o.Samples, "policy.txt");
        for (int i = 0; i < args.Length; i++)
        {
            // An option's value never starts with "--": "--queries --json" is a missing value, not a count named --json.
            string Value() => i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : throw new CliUsageException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--policy": o.Policy = Value(); o.OwnPolicy = true; break;
                case "--reload": o.Reload = Value(); break;
                case "--queries":
                    o.Queries = long.TryParse(Value(), out long n) && n > 0 ? n : throw new CliUsageException("--queries needs a positive number");
                    break;
                case "--json": o.Json = true; break;
                case "--hold": o.Hold = true; break;
                case "--attack": o.Attack = true; break;
                default: throw new CliUsageException($"unknown option '{args[i]}'");
            }
        }

        // The shipped policy reloads as its version 2; the user's own reloads itself unless told otherwise.
        o.Reload ??= o.OwnPolicy ? o.Policy : Path.Combine(o.Samples, "policy-v2.txt");
        foreach (string file in new[] { o.Policy, o.Reload })
        {
            if (!File.Exists(file))
            {
                throw new CliUsageException($"no policy file at '{TerminalText.Clean(file, 400)}'");
            }
        }

        return o;
    }

    private static DemoSummary RunDemo(Options o, Report report, RootSlot slot, out ProtectablePool current, out LoadedPolicy currentPolicy)
    {
        report.Title("pmalloc demo: a role-based access policy in write-once memory");

        // 1. Load.
        WriteOncePool pool = new(new PoolOptions { Name = "policy-v1" });
        Stopwatch clock = Stopwatch.StartNew();
        LoadedPolicy policy = report.Step($"Loading {Shown(Path.GetFileName(o.Policy))}", () => PolicyLoader.LoadFile(pool, o.Policy));
        double loadMs = clock.Elapsed.TotalMilliseconds;
        report.Line($"[bold]1. Load[/]: [green]{policy.Rules:N0}[/] rules, {policy.Users.Length} users, {policy.Roles.Length} roles of '{Shown(policy.Name)}' v{policy.Version} in {loadMs:0} ms.");
        report.Line("   Rules are structs, strings UTF-8, indexes ProtectedDictionary tables, all in the pool.");
        report.Statistics(pool.Statistics);

        // 2. A malformed file: the load fails halfway and frees what it took. With the user's own policy, a copy of it
        // with one rule cut short halfway; else (or if it has no statement to break) the shipped sample, which has one.
        string broken = "";
        string[]? brokenCopy = o.OwnPolicy ? Break(ReadPolicyLines(o.Policy), out broken) : null;
        RollbackSummary rollback = report.Step("Loading a malformed policy", () => brokenCopy is not null
            ? TryMalformed(pool, o.Policy, brokenCopy, broken)
            : TryMalformed(pool, Path.Combine(o.Samples, "policy-malformed.txt"), null, null));
        report.Line(rollback.Sample
            ? $"[bold]2. Rollback[/]: the shipped sample {Path.GetFileName(rollback.File)}, line {rollback.Line}: [red]{Shown(rollback.Error)}[/]"
            : $"[bold]2. Rollback[/]: {Shown(Path.GetFileName(rollback.File))} with line {rollback.Line} cut short to '{Shown(rollback.BrokenLine ?? "")}': [red]{Shown(rollback.Error)}[/]");
        report.Line("   The loader freed every allocation of the failed load (Free, newest first).");
        report.Line($"   Pool statistics before and after: {(rollback.StatisticsUnchanged ? "[green]identical[/]" : "[red]DIFFERENT[/]")}.");
        report.Compare(rollback.Before, rollback.After);

        // 3. Protect, then answer queries.
        pool.Protect();
        slot.Publish(policy.Root);
        report.Line($"[bold]3. Protect[/]: {pool.Statistics.Chunks} chunk(s), {Bytes(pool.Statistics.MappedBytes)} read-only for good.");
        Query[] queries = MakeQueries(policy);
        QueriesSummary answered = report.Step($"Answering {o.Queries:N0} access queries", () => Answer(slot, queries, o.Queries));
        report.Line($"   {answered.Count:N0} access queries in {answered.Seconds:0.00} s: [green]{answered.PerSecond:N0} queries/s[/]");
        report.Line(answered.Build == "Debug"
            ? $"   (one thread, no lock; {answered.Allowed:N0} allowed; a [yellow]Debug build[/]: the figure of a Release build ('dotnet run -c Release') is higher)."
            : $"   (one thread, no lock; {answered.Allowed:N0} allowed; {answered.Build} build).");

        // 4. Reload: the new version in a fresh pool, the root swapped, the old pool destroyed.
        WriteOncePool next = new(new PoolOptions { Name = "policy-v2" });
        LoadedPolicy reloaded = report.Step($"Reloading {Shown(Path.GetFileName(o.Reload!))}", () => PolicyLoader.LoadFile(next, o.Reload!));
        next.Protect();
        queries = MakeQueries(reloaded);
        bool[] before = Decide(slot.Current, queries);
        slot.Publish(reloaded.Root);
        pool.Dispose();
        policy.Dispose();
        bool[] after = Decide(slot.Current, queries);
        int changed = before.Zip(after).Count(d => d.First != d.Second);
        List<ChangedDecision> examples = ChangedExamples(queries, before, after);
        report.Line($"[bold]4. Reload[/]: v{reloaded.Version} into pool '{next.Name}'; the root pointer, in write-rare pool");
        report.Line($"   '{slot.Pool.Name}', swapped with Publish; pool '{pool.Name}' {pool.State.ToString().ToLowerInvariant()}.");
        if (changed == 0)
        {
            report.Line($"   None of {SampleQueries:N0} sample decisions changed{(o.Reload == o.Policy ? " (the same file reloaded)" : "")}.");
        }
        else
        {
            report.Line($"   {changed} of {SampleQueries:N0} sample decisions changed, for example:");
            foreach (ChangedDecision c in examples)
            {
                report.Line($"   {Shown(c.Query, 3 * TerminalText.EchoLimit)}: {Verdict(c.Before)} -> {Verdict(c.After)}");
            }
        }

        // 5. The attack, in a child process: it must die, and nothing here may change.
        ChildResult child = report.Step("Attacking in a child process", () =>
            ChildProcess.RunSelf(["demo", "--attack", "--policy", o.Policy], TimeSpan.FromMinutes(1)));
        bool unchanged = Decide(slot.Current, queries).SequenceEqual(after);
        AttackSummary attack = new(child.ExitCode, child.FaultLine, child.DiedOfAccessViolation, unchanged,
            child.StandardOutput.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("attacker:", StringComparison.Ordinal)) ?? "");
        report.Line("[bold]5. Attack[/]: a child loads and protects the policy, then grants itself a role");
        report.Line($"   by writing to a rule ({Shown(attack.Plan.Replace("attacker: ", "", StringComparison.Ordinal), 3 * TerminalText.EchoLimit)}).");
        report.Line(attack.Stopped
            ? $"   Stopped: exit status [green]{attack.ExitCode}[/]. The runtime said:\n   [yellow]{Markup.Escape(attack.FaultLine)}[/]"
            : $"   [red]NOT stopped as expected: exit status {attack.ExitCode}.[/] {Shown(child.StandardError.ReplaceLineEndings(" "), 2000)}");
        report.Line($"   Decisions here after the attack: {(unchanged ? "[green]unchanged[/]" : "[red]CHANGED[/]")} ({SampleQueries:N0} sample queries).");

        current = next;
        currentPolicy = reloaded;
        return new DemoSummary(
            new PolicySummary(o.Policy, policy.Name, policy.Version, policy.Roles.Length, policy.Users.Length, policy.Rules, loadMs),
            next.Statistics, rollback, answered,
            new ReloadSummary(o.Reload!, reloaded.Version, changed, examples, pool.State == PoolState.Destroyed, slot.Current == (PolicyRoot*)reloaded.Root, slot.Pool.Statistics),
            attack);
    }

    /// <summary>
    /// Loads a malformed policy into <paramref name="pool"/>, expecting it to fail and roll back: the file at
    /// <paramref name="path"/> (the shipped sample), or <paramref name="lines"/>, the user's file with one line broken.
    /// </summary>
    private static RollbackSummary TryMalformed(ProtectablePool pool, string path, string[]? lines, string? broken)
    {
        PoolStatistics before = pool.Statistics;
        try
        {
            _ = lines is null ? PolicyLoader.LoadFile(pool, path) : PolicyLoader.Load(pool, lines, TerminalText.Clean(Path.GetFileName(path)));
        }
        catch (PolicyFormatException e)
        {
            PoolStatistics after = pool.Statistics;
            return new RollbackSummary(path, lines is null, e.Line, broken, e.Reason, before, after, before == after);
        }

        throw new InvalidOperationException($"{path}: the malformed copy was expected to fail to load, and it loaded");
    }

    /// <summary>The lines of the policy file at <paramref name="path"/>, through the loader's bounded reader (the file loaded once already).</summary>
    private static string[] ReadPolicyLines(string path)
    {
        try
        {
            using StreamReader reader = new(path, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            return [.. PolicyLoader.ReadLines(reader, TerminalText.Clean(Path.GetFileName(path)), path)];
        }
        catch (Exception e) when (e is (IOException or UnauthorizedAccessException or NotSupportedException) and not PolicyReadException)
        {
            throw new PolicyReadException(path, e);
        }
    }

    /// <summary>
    /// Breaks one statement of a policy that loaded: the <c>allow</c> rule nearest the middle loses its object (or, in a
    /// policy without rules, the statement nearest the middle keeps only its keyword). Every statement then needs more
    /// fields than it has, so the load fails there, halfway through. Returns the lines, the broken one in place; null if
    /// the policy has no statement at all (an empty policy is valid).
    /// </summary>
    internal static string[]? Break(string[] lines, out string broken)
    {
        static string[] Fields(string line)
        {
            int hash = line.IndexOf('#', StringComparison.Ordinal);
            return (hash >= 0 ? line[..hash] : line).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        }

        int[] statements = [.. Enumerable.Range(0, lines.Length).Where(i => Fields(lines[i]).Length > 0)];
        int[] rules = [.. statements.Where(i => Fields(lines[i]) is ["allow", _, _, _])];
        int[] candidates = rules.Length > 0 ? rules : statements;
        broken = "";
        if (candidates.Length == 0)
        {
            return null;
        }

        int at = candidates[candidates.Length / 2];
        string[] fields = Fields(lines[at]);
        broken = string.Join(' ', rules.Length > 0 ? fields[..^1] : fields[..1]);
        string[] copy = [.. lines];
        copy[at] = broken;
        return copy;
    }

    private readonly record struct Query(string User, string Action, string Object)
    {
        public override string ToString() => $"{User} {Action} {Object}";
    }

    /// <summary>
    /// A fixed, seeded mix: mostly a random user asking for a permission some rule grants, and one in eight for an action on
    /// an object no rule pairs it with. A policy with no rule gets queries that every decision denies.
    /// </summary>
    private static Query[] MakeQueries(LoadedPolicy policy)
    {
        Random random = new(2018);
        (string Action, string Object)[] pairs = policy.Permissions.Length > 0 ? policy.Permissions : [("read", "/")];
        Query[] queries = new Query[SampleQueries];
        for (int i = 0; i < queries.Length; i++)
        {
            (string action, string obj) = pairs[random.Next(pairs.Length)];
            if (random.Next(8) == 0)
            {
                action = pairs[random.Next(pairs.Length)].Action;
            }

            queries[i] = new Query(policy.Users[random.Next(policy.Users.Length)], action, obj);
        }

        return queries;
    }

    /// <summary>Answers <paramref name="count"/> queries as a reader does: follow the root pointer, then look up, with no lock.</summary>
    private static QueriesSummary Answer(RootSlot slot, Query[] queries, long count)
    {
        // One untimed pass first, so the figure is of the optimized code, not of the JIT's first tier.
        foreach (Query q in queries)
        {
            _ = Decisions.IsAllowed(slot.Current, q.User, q.Action, q.Object);
        }

        long allowed = 0;
        Stopwatch clock = Stopwatch.StartNew();
        for (long i = 0; i < count; i++)
        {
            Query q = queries[(int)(i & (SampleQueries - 1))];
            if (Decisions.IsAllowed(slot.Current, q.User, q.Action, q.Object))
            {
                allowed++;
            }
        }

        double seconds = clock.Elapsed.TotalSeconds;
        return new QueriesSummary(count, allowed, seconds, count / Math.Max(seconds, 1e-9), Build);
    }

    private static bool[] Decide(PolicyRoot* root, Query[] queries)
    {
        bool[] decisions = new bool[queries.Length];
        for (int i = 0; i < queries.Length; i++)
        {
            decisions[i] = Decisions.IsAllowed(root, queries[i].User, queries[i].Action, queries[i].Object);
        }

        return decisions;
    }

    /// <summary>The first few decisions the reload changed.</summary>
    private static List<ChangedDecision> ChangedExamples(Query[] queries, bool[] before, bool[] after)
    {
        List<ChangedDecision> examples = [];
        for (int i = 0; i < queries.Length && examples.Count < 3; i++)
        {
            if (before[i] != after[i])
            {
                examples.Add(new ChangedDecision(queries[i].ToString(), before[i], after[i]));
            }
        }

        return examples;
    }

    /// <summary>How this program was compiled: the figure of a Debug build (the default of <c>dotnet run</c>) is several times lower.</summary>
#if DEBUG
    private const string Build = "Debug";
#else
    private const string Build = "Release";
#endif

    private static string Verdict(bool allowed) => allowed ? "[green]allowed[/]" : "[red]denied[/]";

    /// <summary>Input from the policy or the command line, as markup: control characters stripped, cut, markup escaped.</summary>
    private static string Shown(string text, int limit = TerminalText.EchoLimit) => Markup.Escape(TerminalText.Clean(text, limit));

    private static string Bytes(long bytes) => bytes >= 1 << 20 ? $"{bytes / (double)(1 << 20):0.0} MiB" : $"{bytes / 1024.0:0.#} KiB";

    /// <summary>
    /// <c>pmalloc demo --attack</c>: load and protect the policy, then write to the attacker's own user rule to
    /// grant it the most powerful role. The write faults; the process dies with exit status 134.
    /// </summary>
    internal static int AttackInThisProcess(string path)
    {
        using WriteOncePool pool = new(new PoolOptions { Name = "policy-attack" });
        LoadedPolicy policy = PolicyLoader.LoadFile(pool, path);
        pool.Protect();
        string attacker = policy.Users.Contains("mallory") ? "mallory" : policy.Users[0];
        string target = policy.Roles.Contains("admin") ? "admin" : policy.Roles[^1];
        UserRecord* user = policy.FindUser(attacker);
        RoleRecord* role = policy.FindRole(target);
        Console.WriteLine($"attacker: user {TerminalText.Clean(attacker)} overwrites its role with {TerminalText.Clean(target)}");
        Console.WriteLine($"before: {TerminalText.Clean(attacker)} write /etc/shadow: {(Decisions.IsAllowed((PolicyRoot*)policy.Root, attacker, "write", "/etc/shadow") ? "allowed" : "denied")}");
        Attacks.Ready();

        // The forbidden write: the user record lives in the protected pool.
        user->Roles[0] = role;

        Console.WriteLine(Attacks.SurvivedMarker);
        Console.WriteLine($"after: {TerminalText.Clean(attacker)} write /etc/shadow: {(Decisions.IsAllowed((PolicyRoot*)policy.Root, attacker, "write", "/etc/shadow") ? "allowed" : "denied")}");
        return 0;
    }

    /// <summary>
    /// Keeps the process and its protected pools alive for <c>pmalloc inspect</c> or <c>dotnet-counters</c>: on a
    /// terminal until Enter (or end of input), SIGINT (Ctrl+C) or SIGTERM; without one (a script, a service, a test)
    /// until SIGTERM or SIGINT only, so a closed or empty standard input does not end it. Returns normally either way,
    /// so the pools are disposed and the exit status is the demo's.
    /// </summary>
    private static void Hold(bool json, ProtectablePool pool)
    {
        int pid = Environment.ProcessId;
        bool terminal = !Console.IsInputRedirected;
        string end = terminal ? "press Enter or Ctrl+C to end" : $"end it with 'kill {pid}' (SIGTERM) or SIGINT";
        string text = $"Holding pool '{pool.Name}': PID {pid}. Run 'pmalloc inspect {pid}' in another terminal; {end}.";
        using ManualResetEventSlim stop = new();
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Set();
        }

        using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        if (json)
        {
            Console.Error.WriteLine(text);
        }
        else
        {
            Terminal.Out.WriteLine(text);
        }

        Console.Out.Flush();
        if (terminal)
        {
            // Blocks a background thread, which the process does not wait for once a signal ended the hold.
            Thread reader = new(() =>
            {
                _ = Console.In.ReadLine();
                stop.Set();
            })
            { IsBackground = true, Name = "pmalloc demo --hold: Enter" };
            reader.Start();
        }

        stop.Wait();
    }

    /// <summary>Writes the text report, or nothing in <c>--json</c> mode.</summary>
    private sealed class Report(bool quiet)
    {
        internal void Title(string text)
        {
            if (quiet)
            {
                return;
            }

            // A rule spans the terminal; piped, it would span the unwrapped width, so a plain title instead.
            if (Console.IsOutputRedirected)
            {
                AnsiConsole.MarkupLine($"[bold]{Markup.Escape(text)}[/]");
            }
            else
            {
                AnsiConsole.Write(new Rule($"[bold]{Markup.Escape(text)}[/]").LeftJustified());
            }
        }

        internal void Line(string markup)
        {
            if (!quiet)
            {
                AnsiConsole.MarkupLine(markup);
            }
        }

        /// <summary>Runs a step that may take more than a moment under a spinner.</summary>
        internal T Step<T>(string what, Func<T> step) =>
            quiet || !Terminal.OutputIsInteractive ? step() : AnsiConsole.Status().Start(what + "...", _ => step());

        internal void Statistics(PoolStatistics s)
        {
            if (!quiet)
            {
                AnsiConsole.MarkupLine($"   Pool '{s.Name}': {s.Chunks} chunk(s), {Bytes(s.MappedBytes)} mapped, {Bytes(s.AllocatedBytes)} in {s.LiveAllocations:N0} allocations.");
            }
        }

        internal void Compare(PoolStatistics before, PoolStatistics after)
        {
            if (quiet)
            {
                return;
            }

            Table table = new Table().AddColumns("statistic", "before", "after");
            table.AddRow("chunks", $"{before.Chunks}", $"{after.Chunks}");
            table.AddRow("mapped bytes", $"{before.MappedBytes:N0}", $"{after.MappedBytes:N0}");
            table.AddRow("allocated bytes", $"{before.AllocatedBytes:N0}", $"{after.AllocatedBytes:N0}");
            table.AddRow("requested bytes", $"{before.RequestedBytes:N0}", $"{after.RequestedBytes:N0}");
            table.AddRow("live allocations", $"{before.LiveAllocations:N0}", $"{after.LiveAllocations:N0}");
            AnsiConsole.Write(table);
        }
    }
}

/// <summary>The facts of one demo run, printed by <c>--json</c>.</summary>
internal sealed record DemoSummary(PolicySummary Policy, PoolStatistics Pool, RollbackSummary Rollback, QueriesSummary Queries, ReloadSummary Reload, AttackSummary Attack);

internal sealed record PolicySummary(string File, string Name, int Version, int Roles, int Users, int Rules, double LoadMilliseconds);

/// <summary>The rollback step: <paramref name="Sample"/> when the shipped malformed sample was loaded, else the user's <paramref name="File"/> with <paramref name="Line"/> cut short to <paramref name="BrokenLine"/>.</summary>
internal sealed record RollbackSummary(string File, bool Sample, int Line, string? BrokenLine, string Error, PoolStatistics Before, PoolStatistics After, bool StatisticsUnchanged);

/// <summary>The timed queries; <paramref name="Build"/> is <c>Debug</c> or <c>Release</c>, the configuration this program was compiled in.</summary>
internal sealed record QueriesSummary(long Count, long Allowed, double Seconds, double PerSecond, string Build);

internal sealed record ChangedDecision(string Query, bool Before, bool After);

internal sealed record ReloadSummary(string File, int Version, int ChangedDecisions, List<ChangedDecision> Examples, bool OldPoolDestroyed, bool RootPublished, PoolStatistics RootPool);

internal sealed record AttackSummary(int ExitCode, string FaultLine, bool Stopped, bool DecisionsUnchanged, string Plan);
