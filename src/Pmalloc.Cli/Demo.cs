using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Spectre.Console;

namespace Pmalloc.Cli;

/// <summary><c>pmalloc demo</c>: load a policy into a write-once pool, roll back a malformed record, protect, read back.</summary>
internal static unsafe class Demo
{
    /// <summary>One rule as it lives in the pool: three NUL-terminated UTF-8 strings, also in the pool.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Rule
    {
        public nint Role;
        public nint Action;
        public nint Object;
    }

    internal static int Run(string[] args)
    {
        string samples = Path.Combine(AppContext.BaseDirectory, "samples");
        string policy = Path.Combine(samples, "policy.txt");
        for (int i = 0; i < args.Length; i++)
        {
            policy = args[i] switch
            {
                "--policy" when i + 1 < args.Length => args[++i],
                _ => throw new CliUsageException($"unknown option '{args[i]}'"),
            };
        }

        if (!File.Exists(policy))
        {
            throw new CliUsageException($"no policy file at '{policy}'");
        }

        using WriteOncePool pool = new(new PoolOptions { Name = "policy" });
        List<nint> rules = [];
        int loaded = Load(pool, File.ReadLines(policy), rules, out _);
        AnsiConsole.MarkupLineInterpolated($"Loaded [green]{loaded}[/] rules from {Path.GetFileName(policy)} into pool '{pool.Name}'.");

        PoolStatistics before = pool.Statistics;
        string malformed = Path.Combine(samples, "policy-malformed.txt");
        int extra = Load(pool, File.ReadLines(malformed), rules, out List<string> rejected);
        PoolStatistics afterRollback = pool.Statistics;
        AnsiConsole.MarkupLineInterpolated($"Loaded [green]{extra}[/] more from {Path.GetFileName(malformed)}; rolled back {rejected.Count} malformed record(s) with Free: {string.Join("; ", rejected)}");
        AnsiConsole.MarkupLineInterpolated($"Each rollback returned every byte: {afterRollback.LiveAllocations - before.LiveAllocations} allocations were added for {extra} good rules (4 per rule).");

        pool.Protect();
        AnsiConsole.MarkupLineInterpolated($"Protected: {pool.Statistics.Chunks} chunk(s), {pool.Statistics.AllocatedBytes} bytes in {pool.Statistics.LiveAllocations} allocations are now read-only for good.");

        foreach (nint address in rules.Take(3))
        {
            Rule* rule = (Rule*)address;
            AnsiConsole.MarkupLineInterpolated($"  allow {Utf8(rule->Role)} {Utf8(rule->Action)} {Utf8(rule->Object)}");
        }

        AnsiConsole.MarkupLine("A stray write to any of these bytes now stops the process with an AccessViolationException (exit status 134).");
        return 0;
    }

    /// <summary>Loads "allow ROLE ACTION OBJECT" lines; a malformed record is rolled back with <see cref="ProtectablePool.Free"/>.</summary>
    internal static int Load(ProtectablePool pool, IEnumerable<string> lines, List<nint> rules, out List<string> rejected)
    {
        rejected = [];
        int loaded = 0;
        foreach (string raw in lines)
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            // The parser allocates as it goes, as a real one does; a bad field means freeing what the record took.
            string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            nint ruleAddress = (nint)Unsafe.AsPointer(ref pool.Allocate<Rule>());
            List<nint> taken = [ruleAddress];
            Rule* rule = (Rule*)ruleAddress;
            if (fields.Length >= 2 && fields[0] == "allow")
            {
                taken.Add(rule->Role = pool.AllocateUtf8(fields[1]));
            }

            if (fields.Length != 4 || fields[0] != "allow")
            {
                foreach (nint address in taken)
                {
                    pool.Free(address);
                }

                rejected.Add($"'{line}'");
                continue;
            }

            rule->Action = pool.AllocateUtf8(fields[2]);
            rule->Object = pool.AllocateUtf8(fields[3]);
            rules.Add(ruleAddress);
            loaded++;
        }

        return loaded;
    }

    private static string Utf8(nint text) => Marshal.PtrToStringUTF8(text) ?? "";
}
