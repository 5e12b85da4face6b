namespace Pmalloc;

/// <summary>The pool's side of the registry, sealing and secrets hardening.</summary>
public abstract partial class ProtectablePool
{
    /// <summary>Every chunk's mapping (guard pages included) is msealed.</summary>
    private bool _mappingsSealed;

    /// <summary>Every chunk's backing is final: memfd write-sealed, or secret fd closed.</summary>
    private bool _backingSealed;

    /// <summary>What <see cref="FindForCheck"/> saw.</summary>
    internal enum Lookup
    {
        /// <summary>The chunk is no longer the pool's (unmapped since the caller's registry snapshot, or the pool was destroyed).</summary>
        Stale,

        /// <summary>The memory is writable (a writable pool); the holder was found under the pool's lock.</summary>
        Writable,

        /// <summary>The memory is read-only: the pool is protected (the holder was found without a lock), or its chunks are read-only from birth (the object cache's).</summary>
        ReadOnly,
    }

    /// <summary>Is the pool's memory read-only to plain stores: protected, or read-only from birth (the object cache's)?</summary>
    internal bool MemoryIsReadOnly => State == PoolState.Protected || ChunksBornReadOnly;

    /// <summary>
    /// True while Protect must leave the backing memfd writable (a write-rare pool writes through it until
    /// <c>MakeReadOnly</c>, which then calls <see cref="SealBackingCore"/>). Mappings are sealed at Protect either way.
    /// </summary>
    private protected virtual bool WritesThroughBacking => false;

    /// <summary>
    /// Finds the allocation whose granules hold <paramref name="address"/> in <paramref name="chunk"/>, an entry of a
    /// registry snapshot that may be stale. <paramref name="holder"/> is <c>default</c> if the granule is free; it
    /// may end before <paramref name="address"/> (the address is in the allocation's padding).
    /// </summary>
    /// <remarks>
    /// Why this is safe without a global lock: see <see cref="ChunkRegistry"/>. <paramref name="lockHeld"/>: the caller
    /// already holds this pool's lock (the pool's own checked copies), which is not reentrant.
    /// </remarks>
    internal Lookup FindForCheck(Chunk chunk, nint address, bool lockHeld, out AllocationInfo holder)
    {
        if (State == PoolState.Protected)
        {
            // Lock-free: a protected pool's bitmaps never change, and are freed only by the chunk's finalizer.
            holder = HolderIn(chunk, address);
            GC.KeepAlive(chunk);
            return Lookup.ReadOnly;
        }

        if (lockHeld)
        {
            return FindLocked(chunk, address, out holder);
        }

        using (_lock.EnterScope())
        {
            return FindLocked(chunk, address, out holder);
        }
    }

    /// <summary>
    /// Makes the backing of every chunk final (memfd <c>F_SEAL_FUTURE_WRITE | F_SEAL_SEAL</c>, or the secret fd closed),
    /// for a sealed pool whose backing Protect left writable (<see cref="WritesThroughBacking"/>): a write-rare pool's
    /// <c>MakeReadOnly</c> calls this, under the lock, before it closes the memfds. Does nothing for a pool that is not sealed.
    /// </summary>
    /// <exception cref="IOException">The kernel refused a seal.</exception>
    private protected void SealBackingCore()
    {
        if (!_mappingsSealed || _backingSealed)
        {
            return;
        }

        foreach (Chunk chunk in _chunks)
        {
            int errno = OsMemory.TrySealBacking(chunk.Mapping, OsMemory.FinalSeals);
            if (errno != 0)
            {
                throw Interop.ErrorFor(errno, "fcntl(F_ADD_SEALS)", $"Pool '{Name}': cannot seal the memfd of the chunk at {ThrowHelper.Hex(chunk.Start)}");
            }
        }

        _backingSealed = true;
    }

    /// <summary>The lookup under the lock: trust only the pool's own list, as the snapshot's chunk may have been unmapped and its bitmaps freed.</summary>
    private Lookup FindLocked(Chunk chunk, nint address, out AllocationInfo holder)
    {
        if (_state == PoolState.Destroyed || !ReferenceEquals(FindChunk(address), chunk))
        {
            holder = default;
            return Lookup.Stale;
        }

        holder = HolderIn(chunk, address);
        return MemoryIsReadOnly ? Lookup.ReadOnly : Lookup.Writable;
    }

    /// <summary>The allocation whose granules hold <paramref name="address"/>, or default if they are free.</summary>
    private AllocationInfo HolderIn(Chunk chunk, nint address)
    {
        int first = chunk.FindStart(chunk.GranuleOf(address));
        return first < 0 ? default : new AllocationInfo(Name, chunk.AddressOf(first), chunk.SizeOf(first, chunk.LengthOf(first)));
    }

    /// <summary>
    /// The sealing step of Protect, after every chunk is read-only: <c>mseal</c> each chunk's whole reservation
    /// (guard pages included) and seal its memfd. Irreversible. Called under the lock with the state already
    /// Protected, so a failure leaves the pool protected, and says so.
    /// </summary>
    private void SealCore()
    {
        // Required on a kernel without mseal was refused by the constructor; IfSupported degrades here.
        if (Options.Seal == SealMode.None || !KernelFeatures.Mseal)
        {
            return;
        }

        Interop.Seals seals = WritesThroughBacking ? OsMemory.SizeSeals : OsMemory.FinalSeals;
        foreach (Chunk chunk in _chunks)
        {
            int errno = chunk.Mapping.IsSealed ? 0 : OsMemory.TrySealMapping(chunk.Mapping);
            string call = "mseal";
            if (errno == 0)
            {
                errno = OsMemory.TrySealBacking(chunk.Mapping, seals);
                call = "fcntl(F_ADD_SEALS)";
            }

            if (errno != 0)
            {
                if (Options.Seal == SealMode.Required)
                {
                    throw Interop.ErrorFor(errno, call, $"Pool '{Name}': protected, but cannot seal the chunk at {ThrowHelper.Hex(chunk.Start)}");
                }

                return;
            }
        }

        _mappingsSealed = true;
        _backingSealed = !WritesThroughBacking;
    }

    /// <summary>
    /// Dispose's step for one chunk of a sealed pool: it can be neither unmapped nor made writable (mseal forbids
    /// both, for good), so it is only forgotten, and its memfd closed. Only a write-rare pool's, whose memfd is not
    /// write-sealed yet, can still be wiped, through an alias. Returns false for an unsealed chunk.
    /// </summary>
    private bool ForgetIfSealed(Chunk chunk)
    {
        if (!chunk.Mapping.IsSealed)
        {
            return false;
        }

        if (Options.WipeOnDestroy && !chunk.Mapping.IsBackingSealed)
        {
            _ = RareWriter.TryWipeUsed(chunk);
        }

        chunk.Mapping.CloseFd();

        // Sealed means protected: lock-free checks may still hold the chunk (see ChunkRegistry).
        chunk.ReleaseBitmapsWhenUnreachable();
        return true;
    }

    /// <summary>The hardening in force, for <see cref="Statistics"/>.</summary>
    private PoolHardening HardeningInForce()
    {
        PoolOptions o = Options;
        PoolHardening h = PoolHardening.None;
        h |= o.GuardPages ? PoolHardening.GuardPages : 0;
        h |= o.LockInMemory || o.SecretMemory ? PoolHardening.LockedInMemory : 0;
        h |= o.ExcludeFromCoreDumps || o.SecretMemory ? PoolHardening.ExcludedFromCoreDumps : 0;
        h |= o.SecretMemory ? PoolHardening.SecretMemory : 0;
        h |= _mappingsSealed ? PoolHardening.MappingsSealed : 0;
        h |= _backingSealed ? PoolHardening.BackingSealed : 0;
        h |= o.WipeOnDestroy && !_mappingsSealed ? PoolHardening.WipeOnDestroy : 0;
        return h;
    }

    /// <summary>How the OS layer maps this pool's chunks.</summary>
    private ChunkFlags ChunkFlagsFor()
    {
        PoolOptions o = Options;
        ChunkFlags flags = ChunkFlags.None;
        flags |= o.GuardPages ? ChunkFlags.GuardPages : 0;
        flags |= o.LockInMemory ? ChunkFlags.LockInMemory : 0;
        flags |= o.ExcludeFromCoreDumps ? ChunkFlags.ExcludeFromCoreDumps : 0;
        flags |= o.SecretMemory ? ChunkFlags.SecretMemory : 0;
        return flags;
    }

    /// <summary>Refuses, at construction, hardening the kernel cannot give: before any data is loaded, not at Protect.</summary>
    private static void ValidateHardening(PoolOptions options)
    {
        if (options.Seal == SealMode.Required && !KernelFeatures.Mseal)
        {
            ThrowHelper.ThrowUnsupported(options.Name,
                "PoolOptions.Seal is Required but this kernel has no mseal(2) (Linux 6.10 or later); use SealMode.IfSupported to protect without sealing.");
        }

        if (options.SecretMemory && !KernelFeatures.MemfdSecret)
        {
            ThrowHelper.ThrowUnsupported(options.Name,
                "PoolOptions.SecretMemory needs memfd_secret(2) (Linux 5.14 or later; some kernels also need the boot option secretmem.enable=1).");
        }
    }
}
