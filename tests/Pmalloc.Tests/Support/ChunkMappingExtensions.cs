namespace Pmalloc.Tests;

internal static class ChunkMappingExtensions
{
    internal static nint End(this ChunkMapping mapping) => mapping.Start + (nint)mapping.Length;

    /// <summary>The first byte of the chunk's VMA: the reservation where the guard pages are installed in it, else the usable part.</summary>
    internal static nint VmaStart(this ChunkMapping mapping) => mapping.GuardsInstalled ? mapping.ReservationStart : mapping.Start;

    /// <summary>One past the last byte of the chunk's VMA.</summary>
    internal static nint VmaEnd(this ChunkMapping mapping) =>
        mapping.GuardsInstalled ? mapping.ReservationStart + (nint)mapping.ReservationLength : mapping.End();

    /// <summary>The chunk's file in <c>/proc/self/map_files</c>: its memfd reopened through its mapping, as an attacker would.</summary>
    internal static string MapFilesPath(this ChunkMapping mapping) => $"/proc/self/map_files/{mapping.VmaStart():x}-{mapping.VmaEnd():x}";

    /// <summary>Where <paramref name="address"/> (inside the chunk) lives in the chunk's memory file.</summary>
    internal static long FileOffsetOf(this ChunkMapping mapping, nint address) => mapping.BackingOffset + (address - mapping.Start);
}
