using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pmalloc.Cli;

/// <summary>The one JSON style of every <c>--json</c> output: camelCase fields, enums as names, indented.</summary>
internal static class Json
{
    internal static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    internal static void Print<T>(T value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Options));
}
