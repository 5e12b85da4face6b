namespace Pmalloc.Tests;

internal static class ChunkMappingExtensions
{
    internal static nint End(this ChunkMapping mapping) => mapping.Start + (nint)mapping.Length;
}
