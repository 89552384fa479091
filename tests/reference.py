"""Dumb, literal reference models that the fast twins are checked against."""

from __future__ import annotations

M64 = (1 << 64) - 1


def murmur2_64_reference(data: bytes, seed: int = 0xC70F6907) -> int:
    """Transcribe libstdc++ ``_Hash_bytes`` (64-bit size_t) statement by statement."""
    mul = (0xC6A4A793 << 32) + 0x5BD1E995

    def shift_mix(v: int) -> int:
        return v ^ (v >> 47)

    def unaligned_load(p: int) -> int:
        return int.from_bytes(data[p : p + 8], "little")

    def load_bytes(p: int, n: int) -> int:
        result = 0
        n -= 1
        while n >= 0:
            result = ((result << 8) + data[p + n]) & M64
            n -= 1
        return result

    length = len(data)
    len_aligned = length & ~0x7
    end = len_aligned
    h = (seed ^ (length * mul)) & M64
    p = 0
    while p != end:
        d = (shift_mix((unaligned_load(p) * mul) & M64) * mul) & M64
        h ^= d
        h = (h * mul) & M64
        p += 8
    if length & 0x7:
        d = load_bytes(end, length & 0x7)
        h ^= d
        h = (h * mul) & M64
    h = (shift_mix(h) * mul) & M64
    h = shift_mix(h)
    return h
