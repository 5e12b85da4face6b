using Pmalloc.Cli;
using Pmalloc.Cli.Policy;
using Spectre.Console;

// The pmalloc command. Verbs: demo, selftest, inspect, bench; "attack" is hidden: it runs one attack case in this
// process, for selftest and the tests, which run it as a child and watch how it dies.
//
// Conventions: results go to standard output, errors and usage to standard error; in --json mode an error is a JSON
// object on standard output instead (CliError). Exit status 0 on success, 1 on a failure, 2 on a mistake on the
// command line. `pmalloc --help`, `pmalloc VERB --help` and `pmalloc --version` print to standard output and exit 0.
// Piped output is not wrapped (Terminal).
if (args.Length == 0)
{
    return Fail("pmalloc", "no verb given", 2, Verbs.Usage, json: false);
}

string verbName = args[0];
string[] rest = args[1..];
switch (verbName)
{
    case "--help" or "-h" or "help" when rest.Length == 0:
        Console.Out.WriteLine(Verbs.HelpText());
        return 0;
    case "help":
        verbName = rest[0];
        rest = ["--help"];
        break;
    case "--version":
        Console.Out.WriteLine($"pmalloc {Verbs.Version}");
        return 0;
}

// Spectre's static AnsiConsole is the unwrapping stdout console too (not before: --version and --help need no console).
AnsiConsole.Console = Terminal.Out;
bool json = rest.Contains("--json");
Verb? verb = Verbs.All.FirstOrDefault(v => v.Name == verbName);
if (verb is null)
{
    return Fail("pmalloc", $"unknown verb '{verbName}'", 2, Verbs.Usage, json);
}

if (Verb.AsksForHelp(rest))
{
    Console.Out.WriteLine(verb.HelpText());
    return 0;
}

// The pools run on Linux and Windows; inspect reads /proc and bench calls libc, so they are Linux's. Say so before
// anything tries to map a pool where none can be.
if (!OperatingSystem.IsLinux() && !(OperatingSystem.IsWindows() && verb.Name is "selftest" or "attack" or "demo"))
{
    string need = OperatingSystem.IsWindows()
        ? $"pmalloc {verb.Name} needs Linux (on Windows: selftest, attack, demo)"
        : "protected memory pools need Linux or Windows";
    return Fail(verb.Name, $"{need}; this is {System.Runtime.InteropServices.RuntimeInformation.OSDescription}", 1, null, json);
}

try
{
    return verb.Run(rest);
}
catch (CliUsageException e)
{
    return Fail(verb.Name, e.Message, 2, verb.Usage, json);
}
catch (PolicyReadException e)
{
    // The file is the user's, the error is the OS's: one line, exit status 2.
    return Fail(verb.Name, e.Message, 2, null, json);
}
catch (Exception e) when (e is PolicyFormatException or InspectException or IOException or UnauthorizedAccessException)
{
    // Failures the user can act on (a malformed policy names its file and line; a missing process its PID): one
    // sentence, no stack trace.
    return Fail(verb.Name, e.Message, 1, null, json);
}

// Reports an error: as JSON on standard output in --json mode, else as text on standard error. Returns the exit status.
static int Fail(string verb, string message, int exitCode, string? usage, bool json)
{
    string? usageLine = usage is null ? null : $"usage: {usage}";
    if (json)
    {
        Json.Print(new CliError(verb, message, exitCode, usageLine), Json.Types.CliError);
        return exitCode;
    }

    string prefix = verb == "pmalloc" ? "pmalloc" : $"pmalloc {verb}";
    Terminal.Error.MarkupLineInterpolated($"[red]{prefix}:[/] {message}");
    if (usageLine is not null)
    {
        Terminal.Error.WriteLine(usageLine);
        Terminal.Error.WriteLine(verb == "pmalloc" ? "Try 'pmalloc --help'." : $"Try 'pmalloc {verb} --help'.");
    }

    return exitCode;
}
