namespace Pmalloc;

/// <summary>
/// One pool's sealing (<see cref="PoolOptions.Seal"/>): at protect, <c>mseal</c> every chunk's whole reservation (guard
/// pages included) and seal its backing, so that not even <c>mprotect</c>, <c>munmap</c>, <c>mremap</c>,
/// <c>MAP_FIXED</c> or a writable re-mapping of the memfd can undo the protection; at destroy, forget the chunks that
/// can no longer be unmapped.
/// </summary>
/// <remarks>
/// Used by the pool under its lock; it knows the chunks and the OS layer, nothing above. A write-rare pool keeps its
/// backing writable at protect (only its size is sealed) and seals it for good at <see cref="WriteRarePool.MakeReadOnly"/>
/// (<see cref="SealBacking"/>). Chunks read-only from birth (the object cache's) are never protected: they are sealed as
/// each is mapped (<see cref="SealAtBirth"/>), their backing's size only, since it is written for as long as the pool lives.
/// </remarks>
internal sealed class ChunkSealer
{
    private readonly PoolOptions _options;

    /// <summary>The chunks are read-only from birth and sealed as each is mapped, where the kernel can.</summary>
    private readonly bool _sealsAtBirth;

    internal ChunkSealer(PoolOptions options, bool chunksBornReadOnly)
    {
        _options = options;
        _sealsAtBirth = chunksBornReadOnly && options.Seal != SealMode.None && KernelFeatures.Mseal;
        MappingsSealed = _sealsAtBirth;
    }

    /// <summary>Every chunk's mapping (guard pages included) is sealed.</summary>
    internal bool MappingsSealed { get; private set; }

    /// <summary>Every chunk's backing is final: memfd write-sealed, or secret fd closed.</summary>
    internal bool BackingSealed { get; private set; }

    /// <summary>Refuses, at construction, sealing the kernel cannot give: before any data is loaded, not at Protect.</summary>
    internal static void ValidateOptions(PoolOptions options)
    {
        if (options.Seal == SealMode.Required && !KernelFeatures.Mseal)
        {
            ThrowHelper.ThrowUnsupported(options.Name, OperatingSystem.IsWindows()
                ? "PoolOptions.Seal is Required but Windows has no sealing (nothing like Linux's mseal(2)); use SealMode.IfSupported to protect without sealing."
                : "PoolOptions.Seal is Required but this kernel has no mseal(2) (Linux 6.10 or later); use SealMode.IfSupported to protect without sealing.");
        }
    }

    /// <summary>
    /// The sealing step of Protect, after every chunk is read-only. Irreversible. With <paramref name="keepBackingWritable"/>
    /// only the backings' size is sealed. <see cref="SealMode.IfSupported"/> degrades silently (and <see cref="MappingsSealed"/>
    /// says so); <see cref="SealMode.Required"/> throws on a refused seal, leaving the pool protected.
    /// </summary>
    /// <remarks>
    /// A final seal first has the pool's own mappings made again from a read-only descriptor of its memory file, so that it
    /// can ask for <c>F_SEAL_WRITE</c>: granted, it proves that no writable mapping of the file is left anywhere. One that is
    /// left was made while the pool was writable, by a child forked then or by code that mapped the pool's descriptor: it
    /// could still write the sealed pool. <see cref="SealMode.Required"/> then throws, once everything is sealed as far as it
    /// can be; <see cref="SealMode.IfSupported"/> keeps the seals it got, as it does for any seal refused.
    /// </remarks>
    internal void SealAtProtect(IReadOnlyList<Chunk> chunks, bool keepBackingWritable)
    {
        // Required on a kernel without mseal was refused by the constructor; IfSupported degrades here.
        if (_options.Seal == SealMode.None || !KernelFeatures.Mseal)
        {
            return;
        }

        // Before mseal, which forbids it: the pool's own mappings are made again from a read-only descriptor, so that the
        // final seal (here, or a write-rare pool's at MakeReadOnly, which writes through the descriptor and the writer
        // process until then, never through these mappings) can ask for F_SEAL_WRITE. Chunks sealed at birth are sealed already.
        // Intentionally ignore failure (no /proc): the final seal is then the one it always was, F_SEAL_FUTURE_WRITE.
        if (!_sealsAtBirth)
        {
            ChunkMapping[] shared = [.. chunks.Select(c => c.Mapping).Where(m => m.Shared is not null)];
            if (shared.Length != 0)
            {
                _ = OsMemory.TryDropWriteAccess(shared[0].Shared!, shared);
            }
        }

        // Every mapping first, then the backing: a write-sealed backing under a mapping that is not sealed could be neither
        // unmapped safely nor wiped. The pool's chunks share one memory file, so its seal is added once (the first
        // chunk's call) and the other chunks find it done; a secret chunk's own backing is closed instead.
        foreach (bool backings in (ReadOnlySpan<bool>)[false, true])
        {
            foreach (Chunk chunk in chunks)
            {
                OsResult result = backings ? OsMemory.TrySealBacking(chunk.Mapping, final: !keepBackingWritable)
                    : chunk.Mapping.IsSealed ? OsResult.Ok
                    : OsMemory.TrySealMapping(chunk.Mapping);
                if (result.Failed)
                {
                    if (_options.Seal == SealMode.Required)
                    {
                        ThrowHelper.ThrowOs(_options.Name, result, chunk.Start);
                    }

                    return;
                }
            }
        }

        MappingsSealed = true;
        BackingSealed = !keepBackingWritable;
        ThrowIfWritableElsewhere(chunks, "protected");
    }

    /// <summary>
    /// With <see cref="SealMode.Required"/>, throws if the final seal found a writable mapping of the pool's memory that is
    /// not the pool's (<see cref="PoolBacking.WritableElsewhere"/>): called once the pool is sealed as far as it can be, by
    /// <see cref="SealAtProtect"/> and by a write-rare pool's <c>MakeReadOnly</c>; <paramref name="state"/> is what the
    /// pool is by then ("protected", "read-only").
    /// </summary>
    internal void ThrowIfWritableElsewhere(IReadOnlyList<Chunk> chunks, string state)
    {
        if (_options.Seal == SealMode.Required && chunks.FirstOrDefault(c => c.Mapping.Shared is { WritableElsewhere: true }) is { } aliased)
        {
            ThrowHelper.ThrowOs(_options.Name, OsResult.Fail(Interop.Errno.EBUSY, "fcntl(F_SEAL_WRITE)",
                "seal the pool's memory against every writable mapping: one that is not the pool's was made while the pool was writable " +
                "(by a child forked then, or by code that mapped the pool's descriptor; or its pages are pinned for writing, by io_uring " +
                $"say) and can still write it; the pool is {state} and sealed against every later write (F_SEAL_FUTURE_WRITE, mseal), " +
                "but not against that mapping"), aliased.Start);
        }
    }

    /// <summary>
    /// Seals a chunk of a pool whose chunks are read-only from birth, as it is mapped, before any address in it is handed
    /// out: its backing's size, then its mapping (guard pages included), so that a failure leaves a chunk that can still be
    /// unmapped. <see cref="SealMode.IfSupported"/> degrades (and <see cref="MappingsSealed"/> says so from then on);
    /// <see cref="SealMode.Required"/> returns the failure, for the pool to unmap the chunk and throw. Does nothing for
    /// other pools, whose chunks are sealed at protect.
    /// </summary>
    internal OsResult SealAtBirth(Chunk chunk)
    {
        if (!_sealsAtBirth)
        {
            return OsResult.Ok;
        }

        OsResult result = OsMemory.TrySealBacking(chunk.Mapping, final: false);
        if (!result.Failed)
        {
            result = OsMemory.TrySealMapping(chunk.Mapping);
        }

        if (result.Failed && _options.Seal != SealMode.Required)
        {
            MappingsSealed = false;
            return OsResult.Ok;
        }

        return result;
    }

    /// <summary>
    /// Makes the backing of every chunk final, for a sealed pool whose backing Protect left writable: a write-rare
    /// pool's <c>MakeReadOnly</c> calls this after the writer process has unmapped the pool and before it closes the
    /// backings. Does nothing for a pool that is not sealed. Like <see cref="SealAtProtect"/>, it asks for
    /// <c>F_SEAL_WRITE</c> where Protect left the pool no writable mapping of its own, and reports a writable mapping that
    /// survives with <see cref="ThrowIfWritableElsewhere"/>, which <c>MakeReadOnly</c> calls once the pool is read-only.
    /// </summary>
    internal void SealBacking(IReadOnlyList<Chunk> chunks)
    {
        if (!MappingsSealed || BackingSealed)
        {
            return;
        }

        foreach (Chunk chunk in chunks)
        {
            OsResult result = OsMemory.TrySealBacking(chunk.Mapping, final: true);
            if (result.Failed)
            {
                ThrowHelper.ThrowOs(_options.Name, result, chunk.Start);
            }
        }

        BackingSealed = true;
    }
}
