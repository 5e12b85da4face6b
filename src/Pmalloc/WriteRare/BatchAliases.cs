namespace Pmalloc;

/// <summary>
/// The aliases of one <see cref="WriteRareBatch"/>: one private writable mapping of each touched chunk's whole backing,
/// mapped on first use and unmapped by <see cref="UnmapAll"/>. Used under the pool's lock.
/// </summary>
internal sealed class BatchAliases
{
    // The last chunk used and its alias: a batch mostly writes to one chunk, so most writes skip the Dictionary,
    // and a batch that touches one chunk never allocates it.
    private Chunk? _lastChunk;
    private nint _lastAlias;

    /// <summary>Every chunk mapped but the last one used; allocated when a batch touches a second chunk.</summary>
    private Dictionary<Chunk, nint>? _others;

    /// <summary>The alias address of <paramref name="target"/>, mapping the chunk's alias if this batch has none yet.</summary>
    internal OsResult TryAddressOf(Chunk chunk, nint target, out nint address)
    {
        if (!ReferenceEquals(chunk, _lastChunk))
        {
            if (_others is null || !_others.Remove(chunk, out nint alias))
            {
                OsResult mapped = OsMemory.TryMapAlias(chunk.Mapping, 0, chunk.Mapping.Length, out alias);
                if (mapped.Failed)
                {
                    address = 0;
                    return mapped;
                }
            }

            if (_lastChunk is not null)
            {
                (_others ??= []).Add(_lastChunk, _lastAlias);
            }

            _lastChunk = chunk;
            _lastAlias = alias;
        }

        address = _lastAlias + (target - chunk.Start);
        return OsResult.Ok;
    }

    internal void UnmapAll()
    {
        if (_lastChunk is not null)
        {
            OsMemory.UnmapAlias(_lastAlias, _lastChunk.Mapping.Length);
            _lastChunk = null;
            _lastAlias = 0;
        }

        if (_others is not null)
        {
            foreach ((Chunk chunk, nint alias) in _others)
            {
                OsMemory.UnmapAlias(alias, chunk.Mapping.Length);
            }

            _others.Clear();
        }
    }
}
