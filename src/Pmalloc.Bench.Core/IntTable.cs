using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmalloc.Bench;

/// <summary>
/// An open-addressing int → long table, the same code over a protected pool or a managed array, so the
/// lookup benchmark compares where the data lives and nothing else.
/// </summary>
/// <remarks>Linear probing, Fibonacci hashing, capacity a power of two at least twice the count.</remarks>
public readonly unsafe struct IntTable
{
    [StructLayout(LayoutKind.Sequential)]
    public struct Slot
    {
        public int Key;
        public int Used;
        public long Value;
    }

    private readonly Slot* _slots;
    private readonly Slot[]? _managed;
    private readonly int _shift;
    private readonly int _mask;

    private IntTable(Slot* slots, Slot[]? managed, int capacity)
    {
        _slots = slots;
        _managed = managed;
        _shift = 32 - BitOperations.Log2((uint)capacity);
        _mask = capacity - 1;
    }

    /// <summary>Fills a table in <paramref name="pool"/> (which the caller then protects).</summary>
    public static IntTable InPool(ProtectablePool pool, ReadOnlySpan<int> keys, ReadOnlySpan<long> values)
    {
        Span<Slot> slots = pool.AllocateArray<Slot>(Capacity(keys.Length));
        Fill(slots, keys, values);
        return new IntTable((Slot*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(slots)), null, slots.Length);
    }

    /// <summary>The same table in a managed array on the GC heap.</summary>
    public static IntTable InArray(ReadOnlySpan<int> keys, ReadOnlySpan<long> values)
    {
        Slot[] slots = new Slot[Capacity(keys.Length)];
        Fill(slots, keys, values);
        return new IntTable(null, slots, slots.Length);
    }

    public bool TryGetValue(int key, out long value)
    {
        ReadOnlySpan<Slot> slots = _managed is not null ? _managed : new ReadOnlySpan<Slot>(_slots, _mask + 1);
        int i = Slot0(key, _shift);
        while (true)
        {
            ref readonly Slot slot = ref slots[i];
            if (slot.Used == 0)
            {
                value = 0;
                return false;
            }

            if (slot.Key == key)
            {
                value = slot.Value;
                return true;
            }

            i = (i + 1) & _mask;
        }
    }

    /// <summary>Fibonacci hashing: the top bits of key × 2^32/φ (wrapping on purpose).</summary>
    private static int Slot0(int key, int shift) => (int)(unchecked((uint)key * 0x9E3779B9u) >> shift);

    private static int Capacity(int count) => (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(2, count * 2));

    private static void Fill(Span<Slot> slots, ReadOnlySpan<int> keys, ReadOnlySpan<long> values)
    {
        IntTable shape = new(null, null, slots.Length);
        for (int k = 0; k < keys.Length; k++)
        {
            int i = Slot0(keys[k], shape._shift);
            while (slots[i].Used != 0)
            {
                i = (i + 1) & shape._mask;
            }

            slots[i] = new Slot { Key = keys[k], Used = 1, Value = values[k] };
        }
    }
}
