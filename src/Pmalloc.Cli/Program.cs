using Pmalloc.Cli;
using Spectre.Console;

// The pmalloc command. Verbs: demo, selftest, inspect, bench; "attack" is hidden: it runs one attack
// case in this process, for selftest and the tests, which run it as a child and watch how it dies.
string verb = args.Length > 0 ? args[0] : "help";
string[] rest = args.Length > 0 ? args[1..] : [];

// The pools run on Linux and Windows; inspect reads /proc and bench calls libc, so they are Linux's. Say so before
// anything tries to map a pool where none can be.
bool supported = OperatingSystem.IsLinux() || (OperatingSystem.IsWindows() && verb is "selftest" or "attack" or "demo");
if (!supported && verb is not ("help" or "--help" or "-h"))
{
    string need = OperatingSystem.IsWindows() ? $"pmalloc {verb} needs Linux (on Windows: selftest, attack, demo)" : "protected memory pools need Linux or Windows";
    AnsiConsole.MarkupLineInterpolated($"[red]pmalloc {verb}:[/] {need}; this is {System.Runtime.InteropServices.RuntimeInformation.OSDescription}.");
    return 1;
}

try
{
    return verb switch
    {
        "demo" => Demo.Run(rest),
        "attack" => Attacks.RunInThisProcess(rest),
        "bench" => Pmalloc.Cli.Bench.BenchCommand.Run(rest),
        "help" or "--help" or "-h" => Help(),
        "selftest" => SelfTest.Run(rest),
        "inspect" => Inspect.Run(rest),
        _ => Unknown(verb),
    };
}
catch (CliUsageException e)
{
    AnsiConsole.MarkupLineInterpolated($"[red]pmalloc {verb}:[/] {e.Message}");
    return 2;
}

static int Help()
{
    AnsiConsole.WriteLine("""
        pmalloc: write-once and write-rare protected memory pools for .NET

        usage:
          pmalloc selftest [--json]               each attack in its own child process
          pmalloc inspect PID|self [--json]       list the pools of a running process
          pmalloc demo [--policy FILE] [--hold]   load a policy into a pool, protect it, attack it
          pmalloc bench [--quick] [--json [FILE]] the pool against malloc, libsodium, OpenSSL, mmap (docs/benchmarks.md)
          pmalloc help                            this text

        demo options: --policy FILE, --reload FILE, --queries N, --json, --hold
        """);
    return 0;
}

static int Unknown(string verb)
{
    AnsiConsole.MarkupLineInterpolated($"[red]pmalloc: unknown verb '{verb}'.[/] Try 'pmalloc help'.");
    return 2;
}
