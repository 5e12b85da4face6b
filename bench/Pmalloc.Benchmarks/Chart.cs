using System.Text.Json;
using ScottPlot;

namespace Pmalloc.Benchmarks;

/// <summary>
/// Draws the charts of docs/benchmarks.md from the JSON of one <c>pmalloc bench --json</c> run (ScottPlot 5):
/// <c>allocation.png</c> (ns per allocation and resident bytes per object, per allocator and size, log scale) and
/// <c>lookups.png</c> (ns per lookup, and Protect against one mprotect).
/// </summary>
internal static class Chart
{
    internal static void Draw(string jsonPath, string outputDirectory)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(jsonPath));
        JsonElement root = doc.RootElement;
        Directory.CreateDirectory(outputDirectory);

        JsonElement[] small = [.. root.GetProperty("smallAllocations").EnumerateArray()];
        string[] allocators = [.. small.Select(s => s.GetProperty("allocator").GetString()!).Distinct()];
        int[] sizes = [.. small.Select(s => s.GetProperty("size").GetInt32()).Distinct()];

        Multiplot multiplot = new();
        multiplot.AddPlots(2);
        Grouped(multiplot.GetPlot(0), "Time per allocation (ns, log scale)", allocators, sizes.Select(s => $"{s} B").ToArray(),
            (a, g) => Value(small, allocators[a], sizes[g], "nsPerAllocation"));
        Grouped(multiplot.GetPlot(1), "Resident bytes per object (log scale)", allocators, sizes.Select(s => $"{s} B").ToArray(),
            (a, g) => Value(small, allocators[a], sizes[g], "residentBytesPerObject"));
        multiplot.SavePng(Path.Combine(outputDirectory, "allocation.png"), 900, 900);

        Multiplot second = new();
        second.AddPlots(2);
        JsonElement[] lookups = [.. root.GetProperty("lookups").EnumerateArray()];
        JsonElement[] files = [.. root.GetProperty("fileIndex").GetProperty("variants").EnumerateArray()];
        // Series: the interim in-pool table, then the table types by name (int keys: "table"; file paths: the variant's name prefix).
        string[] lookupNames = ["in-pool hash table", "ProtectedDictionary", "FrozenDictionary", "Dictionary"];
        Grouped(second.GetPlot(0), "Lookups (ns, log scale; half hits, half misses)", lookupNames, ["int keys", $"file paths ({root.GetProperty("fileIndex").GetProperty("entries").GetInt32():N0})"],
            (a, g) => (g == 0
                ? lookups.Where(l => a == 0 ? l.GetProperty("table").GetString() == "open addressing" && l.GetProperty("store").GetString() == "protected pool" : l.GetProperty("table").GetString() == lookupNames[a])
                : files.Where(f => a == 0 ? f.GetProperty("name").GetString()!.StartsWith("protected pool", StringComparison.Ordinal) : f.GetProperty("name").GetString()!.StartsWith(lookupNames[a] + "<", StringComparison.Ordinal)))
                .Select(e => e.GetProperty("nsPerLookup").GetDouble()).DefaultIfEmpty(double.NaN).First());
        JsonElement[] protects = [.. root.GetProperty("protect").EnumerateArray()];
        Grouped(second.GetPlot(1), "Making memory read-only (µs, log scale)", ["pool.Protect()", "one mprotect"],
            [.. protects.Select(p => $"{p.GetProperty("bytes").GetInt64() >> 20} MiB")],
            (a, g) => protects[g].GetProperty(a == 0 ? "poolProtectUs" : "mprotectUs").GetDouble());
        second.SavePng(Path.Combine(outputDirectory, "lookups.png"), 900, 900);
    }

    private static double Value(JsonElement[] small, string allocator, int size, string property) =>
        small.FirstOrDefault(s => s.GetProperty("allocator").GetString() == allocator && s.GetProperty("size").GetInt32() == size) is { ValueKind: JsonValueKind.Object } e
            ? e.GetProperty(property).GetDouble()
            : double.NaN;

    /// <summary>Grouped bars on a log10 axis: one group per <paramref name="groups"/> entry, one coloured bar per series.</summary>
    private static void Grouped(Plot plot, string title, string[] series, string[] groups, Func<int, int, double> value)
    {
        ScottPlot.Palettes.Category10 palette = new();
        List<Bar> bars = [];
        ScottPlot.TickGenerators.NumericManual bottom = new();
        double width = 1.0 / (series.Length + 1);
        double max = 1;
        for (int g = 0; g < groups.Length; g++)
        {
            bottom.AddMajor(g + ((series.Length - 1) * width / 2), groups[g]);
            for (int s = 0; s < series.Length; s++)
            {
                double v = value(s, g);
                if (double.IsNaN(v) || v <= 0)
                {
                    continue;
                }

                max = Math.Max(max, v);
                bars.Add(new Bar
                {
                    Position = g + (s * width),
                    Value = Math.Log10(v),
                    Size = width * 0.9,
                    FillColor = palette.GetColor(s),
                    Label = v >= 100 ? v.ToString("#,0", System.Globalization.CultureInfo.InvariantCulture) : v.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture),
                });
            }
        }

        plot.Add.Bars(bars);
        plot.Axes.Bottom.TickGenerator = bottom;
        ScottPlot.TickGenerators.NumericManual left = new();
        for (int p = 0; p <= Math.Ceiling(Math.Log10(max)); p++)
        {
            left.AddMajor(p, Math.Pow(10, p).ToString("#,0", System.Globalization.CultureInfo.InvariantCulture));
        }

        plot.Axes.Left.TickGenerator = left;
        plot.Axes.SetLimitsY(0, Math.Ceiling(Math.Log10(max)) + 0.3);
        for (int s = 0; s < series.Length; s++)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[s], FillColor = palette.GetColor(s) });
        }

        plot.ShowLegend(Edge.Bottom);
        plot.Title(title);
    }
}
