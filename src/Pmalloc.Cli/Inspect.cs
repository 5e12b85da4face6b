using Spectre.Console;

namespace Pmalloc.Cli;

/// <summary><c>pmalloc inspect PID|self [--json]</c>: the pools of a running process, from its <c>/proc/PID/smaps</c>.</summary>
internal static class Inspect
{
    internal static int Run(string[] args)
    {
        bool json = args.Contains("--json");
        string[] targets = [.. args.Where(a => a != "--json")];
        if (targets.Length != 1)
        {
            throw new CliUsageException(targets.Length == 0 ? "which process? give a PID or self" : targets.Length > 1 ? "one process at a time" : $"'{targets[0]}' is not a PID (a positive number) or self");
        }

        int? parsed = targets[0] == "self" ? Environment.ProcessId : ParsePid(targets[0]);
        if (parsed is not { } number)
        {
            // Strict: digits only, no sign, space or leading zero, so "/proc/ 1", "/proc/+1" or "/proc/0001" are never read.
            throw new CliUsageException($"'{TerminalText.Clean(targets[0])}' is not a PID (a positive number) or self");
        }

        // Only ever the canonical form in a path: "/proc/ 1", "/proc/+1" or "/proc/0001" are not what was meant.
        string pid = number.ToString(System.Globalization.CultureInfo.InvariantCulture);
        // A process that does not exist or cannot be read throws InspectException: the program reports it (exit 1).
        IReadOnlyList<PoolMapInfo> pools = PoolMaps.Read(pid);

        string process = ProcessName(pid);
        if (json)
        {
            Json.Print(new InspectReport(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture), process, pools), Json.Types.InspectReport);
            return 0;
        }

        if (pools.Count == 0)
        {
            AnsiConsole.MarkupLineInterpolated($"No pmalloc pools in process {pid} ({process}).");
            return 0;
        }

        Table table = new Table().Title($"pmalloc pools of process {pid} ({Markup.Escape(process)})")
            .AddColumns("pool", "chunks", "mapped", "resident", "prot", "sealed", "locked", "no dump", "guards");
        foreach (PoolMapInfo p in pools)
        {
            // Any process can name a memfd "pmalloc:..." with escape sequences in it.
            table.AddRow(Markup.Escape(TerminalText.Clean(p.Name)), $"{p.Chunks}", Bytes(p.MappedBytes), Bytes(p.ResidentBytes),
                p.Protection == "r" ? "[green]r[/]" : p.Protection, YesNo(p.Sealed), p.Locked ? $"yes ({Bytes(p.LockedBytes)})" : "no",
                YesNo(p.ExcludedFromCoreDumps), p.GuardPages ? "yes" : $"{p.GuardedChunks} of {p.Chunks} chunks");
        }

        AnsiConsole.Write(table);
        return 0;
    }

    /// <summary>A PID as the kernel writes it: ASCII digits only, no leading zero, at most <see cref="int.MaxValue"/>; else null.</summary>
    internal static int? ParsePid(string text) =>
        text.Length is > 0 and <= 10 && text[0] != '0' && text.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0
        && int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid)
            ? pid
            : null;

    private static string ProcessName(string pid)
    {
        try
        {
            // The process sets its own name (prctl PR_SET_NAME): whatever it holds is shown, never acted on.
            return TerminalText.Clean(File.ReadAllText($"/proc/{pid}/comm").Trim());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Only a label: the process may have just exited.
            return "?";
        }
    }

    private static string YesNo(bool value) => value ? "yes" : "no";

    private static string Bytes(long bytes) => bytes >= 1 << 20 ? $"{bytes / (double)(1 << 20):0.0} MiB" : $"{bytes / 1024.0:0.#} KiB";
}

/// <summary>What <c>inspect --json</c> prints.</summary>
internal sealed record InspectReport(int Pid, string Process, IReadOnlyList<PoolMapInfo> Pools);
