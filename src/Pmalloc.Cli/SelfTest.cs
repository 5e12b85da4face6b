using Spectre.Console;

namespace Pmalloc.Cli;

/// <summary>
/// <c>pmalloc selftest [--json]</c>: every case of the attack catalog in its own child process, like the
/// kernel's lkdtm tests for pmalloc. Exit status 1 if any outcome differs from the expected one.
/// </summary>
internal static class SelfTest
{
    /// <summary>Children run two at a time: enough to halve the time on a small machine without starving it.</summary>
    private const int Parallelism = 2;

    internal static int Run(string[] args)
    {
        bool json = args.Contains("--json");
        if (args.Any(a => a != "--json"))
        {
            throw new CliUsageException($"unknown option '{args.First(a => a != "--json")}'");
        }

        // The other OS's cases are not run (on Windows: sealing, memfds, /proc, libc; on Linux: kernel32), and the summary says how many.
        Attack[] cases = [.. Attacks.Cases.Values.Where(c => c.RunsHere)];
        int notHere = Attacks.Cases.Count - cases.Length;
        CaseResult[] results = new CaseResult[cases.Length];
        void RunAll(Action? advance) => Parallel.For(0, cases.Length, new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, i =>
        {
            results[i] = RunCase(cases[i]);
            advance?.Invoke();
        });

        if (json || !Terminal.OutputIsInteractive)
        {
            RunAll(null);
        }
        else
        {
            AnsiConsole.Progress().Start(context =>
            {
                ProgressTask task = context.AddTask("attacks, each in its own process", maxValue: cases.Length);
                RunAll(() => task.Increment(1));
            });
        }

        if (json)
        {
            Json.Print(results, Json.Types.CaseResultArray);
        }
        else
        {
            // The full evidence (the runtime's message, the exception) is in --json's "detail".
            Table table = new Table().AddColumns("case", "expected", "observed", "passed", "what it tries");
            foreach (CaseResult r in results)
            {
                table.AddRow(r.Name, r.Expected, Markup.Escape(r.Observed), r.Passed ? "[green]yes[/]" : "[red]NO[/]", Markup.Escape(r.Description));
            }

            AnsiConsole.Write(table);
            int failed = results.Count(r => !r.Passed);
            AnsiConsole.MarkupLine(failed == 0 ? $"[green]All {results.Length} attacks ended as expected.[/]" : $"[red]{failed} of {results.Length} attacks did not end as expected.[/]");
            if (notHere > 0)
            {
                string which = OperatingSystem.IsWindows() ? "Linux-only attacks (sealing, memfds, /proc, libc)" : "Windows-only attacks (kernel32)";
                AnsiConsole.MarkupLine($"{notHere} {which} were not run on {Markup.Escape(System.Runtime.InteropServices.RuntimeInformation.OSDescription)}.");
            }
        }

        return results.All(r => r.Passed) ? 0 : 1;
    }

    /// <summary>Runs one case as <c>pmalloc attack NAME</c> and compares how it ended with what the catalog expects.</summary>
    internal static CaseResult RunCase(Attack attack)
    {
        ChildResult child = ChildProcess.RunSelf(["attack", attack.Name], TimeSpan.FromMinutes(1));
        (string observed, string detail) = Observe(child);
        return new CaseResult(attack.Name, attack.Expected.ToString(), observed, observed == attack.Expected.ToString(), attack.Description, detail);
    }

    /// <summary>How a child attack ended, as an <see cref="Outcome"/> name, or a description of something else; plus the evidence.</summary>
    internal static (string Observed, string Detail) Observe(ChildResult child)
    {
        string[] stdout = child.StandardOutput.Split('\n', StringSplitOptions.TrimEntries);
        if (!stdout.Contains(Attacks.ReadyMarker))
        {
            // It died (or was refused) while setting up: that is not the outcome of the attack.
            return ($"failed before the attack (exit {child.Status})", FirstLine(child.StandardError) ?? FirstLine(child.StandardOutput) ?? "");
        }

        if (child.DiedOfAccessViolation)
        {
            return (nameof(Outcome.AccessViolation), $"exit {child.Status}: {child.FaultLine}");
        }

        if (child.ExitCode == Attacks.RefusedExitCode && stdout.FirstOrDefault(l => l.StartsWith("refused: ", StringComparison.Ordinal)) is { } refused)
        {
            return (nameof(Outcome.Refused), refused["refused: ".Length..]);
        }

        if (child.ExitCode == Attacks.FoundNothingExitCode && stdout.FirstOrDefault(l => l.StartsWith("found nothing: ", StringComparison.Ordinal)) is { } nothing)
        {
            return (nameof(Outcome.FoundNothing), nothing["found nothing: ".Length..]);
        }

        if (child.ExitCode == 0 && stdout.Contains(Attacks.SurvivedMarker))
        {
            return (nameof(Outcome.NotBlocked), stdout.LastOrDefault(l => l.Length > 0 && l != Attacks.SurvivedMarker) ?? "the write went through");
        }

        if (child.ExitCode == 139)
        {
            return (nameof(Outcome.Segfault), "exit 139: killed by SIGSEGV");
        }

        return ($"exit {child.Status}", FirstLine(child.StandardError) ?? "");
    }

    private static string? FirstLine(string text) => text.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
}

/// <summary>One line of the self-test: <c>--json</c> prints these fields.</summary>
internal sealed record CaseResult(string Name, string Expected, string Observed, bool Passed, string Description, string Detail);
