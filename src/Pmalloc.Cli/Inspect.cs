using Spectre.Console;

namespace Pmalloc.Cli;

/// <summary><c>pmalloc inspect PID|self [--json]</c>: the pools of a running process, from its <c>/proc/PID/smaps</c>.</summary>
internal static class Inspect
{
    internal static int Run(string[] args)
    {
        bool json = args.Contains("--json");
        string[] targets = [.. args.Where(a => a != "--json")];
        if (targets.Length != 1 || (targets[0] != "self" && !(int.TryParse(targets[0], out int n) && n > 0)))
        {
            throw new CliUsageException(targets.Length == 0 ? "which process? give a PID or self" : targets.Length > 1 ? "one process at a time" : $"'{targets[0]}' is not a PID (a positive number) or self");
        }

        string pid = targets[0] == "self" ? Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) : targets[0];
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
            table.AddRow(Markup.Escape(p.Name), $"{p.Chunks}", Bytes(p.MappedBytes), Bytes(p.ResidentBytes),
                p.Protection == "r" ? "[green]r[/]" : p.Protection, YesNo(p.Sealed), p.Locked ? $"yes ({Bytes(p.LockedBytes)})" : "no",
                YesNo(p.ExcludedFromCoreDumps), p.GuardPages ? "yes" : $"{p.GuardedChunks} of {p.Chunks} chunks");
        }

        AnsiConsole.Write(table);
        return 0;
    }

    private static string ProcessName(string pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
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
