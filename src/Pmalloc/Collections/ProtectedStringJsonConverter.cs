using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pmalloc;

/// <summary>
/// Writes a <see cref="ProtectedString"/> as a JSON string, and as a property name when it is a dictionary key, straight
/// from its text (no managed copy); reads one back as a managed string (<see cref="ProtectedString.IsInPool"/> false).
/// Applied to <see cref="ProtectedString"/> by attribute, so System.Text.Json uses it without being told, with the
/// reflection-based serializer and with a source-generated <see cref="JsonSerializerContext"/> alike; it uses no reflection
/// itself, so it works under NativeAOT and trimming.
/// </summary>
/// <remarks>Writing a string whose collection was disposed throws <see cref="ObjectDisposedException"/>.</remarks>
public sealed class ProtectedStringJsonConverter : JsonConverter<ProtectedString>
{
    /// <summary>Reads a JSON string.</summary>
    /// <exception cref="JsonException">The token is not a string.</exception>
    public override ProtectedString Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String ? reader.GetString()! : throw ThrowHelper.NotAJsonString(reader.TokenType);

    /// <summary>Writes the text as a JSON string.</summary>
    public override void Write(Utf8JsonWriter writer, ProtectedString value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value.AsSpan());
    }

    /// <summary>Reads a property name (a dictionary key).</summary>
    public override ProtectedString ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.GetString()!;

    /// <summary>Writes the text as a property name (a dictionary key).</summary>
    public override void WriteAsPropertyName(Utf8JsonWriter writer, ProtectedString value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WritePropertyName(value.AsSpan());
    }
}
