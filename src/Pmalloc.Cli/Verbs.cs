using System.Reflection;
using Pmalloc.Cli.Bench;

namespace Pmalloc.Cli;

/// <summary>One verb of the <c>pmalloc</c> command: how it is called, what it does, and the code that runs it.</summary>
/// <param name="Name">The verb on the command line.</param>
/// <param name="Usage">The usage line, as printed after a mistake and at the top of <c>pmalloc NAME --help</c>.</param>
/// <param name="Summary">One short line for <c>pmalloc --help</c>.</param>
/// <param name="Description">What it does, for <c>pmalloc NAME --help</c>.</param>
/// <param name="Options">Each option and what it does, for <c>pmalloc NAME --help</c>.</param>
/// <param name="Run">Runs the verb with the arguments after its name; returns the exit status.</param>
/// <param name="Hidden">Not listed by <c>pmalloc --help</c> (the attack verb, which selftest and the tests run).</param>
internal sealed record Verb(string Name, string Usage, string Summary, string Description, (string Option, string Help)[] Options, Func<string[], int> Run, bool Hidden = false)
{
    /// <summary>Whether <paramref name="args"/> ask for help: <c>--help</c> or <c>-h</c> anywhere after the verb.</summary>
    internal static bool AsksForHelp(string[] args) => args.Any(a => a is "--help" or "-h");

    /// <summary>The text of <c>pmalloc NAME --help</c>.</summary>
    internal string HelpText()
    {
        List<string> lines = [$"usage: {Usage}", "", Description + "."];
        if (Options.Length > 0)
        {
            int width = Options.Max(o => o.Option.Length);
            lines.Add("");
            lines.Add("options:");
            foreach ((string option, string help) in Options)
            {
                lines.Add($"  {option.PadRight(width)}  {help}");
            }
        }

        return string.Join('\n', lines);
    }
}

/// <summary>The verbs of <c>pmalloc</c>, and the program-wide help and version.</summary>
internal static class Verbs
{
    internal static readonly Verb[] All =
    [
        new("demo", "pmalloc demo [--policy FILE] [--reload FILE] [--queries N] [--json] [--hold]",
            "load a policy into a pool, protect it, reload it, attack it",
            "Load a policy into a write-once pool, roll back a malformed one, protect it, answer queries, reload a new version and watch a child process die trying to change it",
            [
                ("--policy FILE", "your own policy (the format is in the README); default: the shipped samples/policy.txt"),
                ("--reload FILE", "the version the reload step loads; default: samples/policy-v2.txt, or the --policy file itself"),
                ("--queries N", "how many access queries to answer and time (default 2,000,000)"),
                ("--json", "print the facts of the run as one JSON object instead of the report"),
                ("--hold", "keep the protected pools afterwards, print the PID for 'pmalloc inspect', and wait: for Enter on a terminal, for SIGTERM or SIGINT without one"),
            ],
            Demo.Run),
        new("selftest", "pmalloc selftest [--json]",
            "every attack case in its own child process",
            "Run every case of the attack catalog in its own child process and compare how it ended with how it should end; exit status 1 if any differs",
            [("--json", "print one object per case (name, expected, observed, passed, description, detail) instead of the table")],
            SelfTest.Run),
        new("inspect", "pmalloc inspect PID|self [--json]",
            "list the pools of a running process",
            "List the pools of a running process from /proc/PID/smaps: chunks, mapped and resident bytes, protection, sealing, locking, guard pages",
            [("PID|self", "the process to inspect, or this one"), ("--json", "print {pid, process, pools: [...]} instead of the table")],
            Inspect.Run),
        new("bench", "pmalloc bench [--quick] [--costs] [--collections] [--json [FILE]] [--root DIR]",
            "the pool against malloc, libsodium, OpenSSL, mmap",
            "Measure the pool against malloc, libsodium, OpenSSL's secure heap and mmap, side by side in one run (docs/benchmarks.md)",
            [
                ("--quick", "a short run (about 10 s) instead of the full one (about 40 s)"),
                ("--costs", "only what a pool costs: lifecycle against libsodium, chunk map+unmap, the warm fast path, VMAs per chunk"),
                ("--collections", "only the protected collections: string lookups and builds against FrozenDictionary, crafted keys"),
                ("--json [FILE]", "the figures as JSON: on standard output (the tables then go to standard error), or into FILE"),
                ("--root DIR", "the directory tree the file-index benchmark indexes (default /usr)"),
            ],
            BenchCommand.Run),
        new("attack", "pmalloc attack NAME",
            "run one attack case in this process",
            $"Run one attack case in this process, as selftest does in a child; NAME is one of: {string.Join(", ", Attacks.Cases.Keys)}",
            [],
            Attacks.RunInThisProcess, Hidden: true),
    ];

    /// <summary>The text of <c>pmalloc --help</c>.</summary>
    internal static string HelpText()
    {
        Verb[] shown = [.. All.Where(v => !v.Hidden)];
        int width = shown.Max(v => v.Name.Length);
        List<string> lines =
        [
            "pmalloc: write-once and write-rare protected memory pools for .NET",
            "",
            "usage: pmalloc VERB [OPTIONS]",
            "",
            "verbs:",
        ];
        lines.AddRange(shown.Select(v => $"  {v.Name.PadRight(width)}  {v.Summary}"));
        lines.Add("");
        lines.Add("'pmalloc VERB --help' shows a verb's options; 'pmalloc --version' the version.");
        return string.Join('\n', lines);
    }

    /// <summary>The usage line printed after a mistake with no verb.</summary>
    internal const string Usage = "pmalloc VERB [OPTIONS]   (verbs: demo, selftest, inspect, bench; 'pmalloc --help' for more)";

    /// <summary>The version, as the package has it: <c>VersionPrefix</c> (and suffix), then <c>+</c> and the commit when built from git.</summary>
    internal static string Version =>
        typeof(Verbs).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(Verbs).Assembly.GetName().Version?.ToString()
        ?? "unknown";
}
