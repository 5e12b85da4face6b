namespace Pmalloc;

/// <summary>
/// One write of a batch, checked and waiting for the flush: <see cref="Length"/> bytes at <see cref="Target"/> in
/// <see cref="Chunk"/>, copied from the batch buffer at <see cref="Data"/>, or, for a fill, all set to <see cref="FillValue"/>.
/// </summary>
internal readonly record struct PendingWrite(Chunk Chunk, nint Target, nuint Length, nuint Data, bool IsFill, byte FillValue)
{
    /// <summary>One past the last byte written.</summary>
    internal nint End => Target + (nint)Length;
}
