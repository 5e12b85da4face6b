using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Pmalloc.Cli;

/// <summary>
/// The one JSON style of every <c>--json</c> output: camelCase fields, enums as names, indented. Serialization is
/// source-generated (<see cref="CliJsonContext"/>), so it works trimmed and in a NativeAOT build, where reflection-based
/// serialization is disabled.
/// </summary>
internal static class Json
{
    internal static void Print<T>(T value, JsonTypeInfo<T> type) => Console.Out.WriteLine(JsonSerializer.Serialize(value, type));

    /// <summary>The serializers of every type a verb prints.</summary>
    internal static CliJsonContext Types => CliJsonContext.Default;
}

/// <summary>Every type a <c>--json</c> output holds, with its serializer generated at build time.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true, UseStringEnumConverter = true)]
[JsonSerializable(typeof(DemoSummary))]
[JsonSerializable(typeof(CaseResult[]))]
[JsonSerializable(typeof(InspectReport))]
[JsonSerializable(typeof(CliError))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
