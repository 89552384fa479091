"""Dumb, literal reference models that the fast twins are checked against."""

from __future__ import annotations

from typing import Any

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


def ring_hash_reference(
    keys: list[bytes],
    order: list[int],
    weights: list[float],
    min_weight: float,
    *,
    min_ring_size: int = 1024,
    max_ring_size: int = 8388608,
    hash_function: str = "xx_hash",
) -> list[tuple[int, int]]:
    """Transcribe Envoy's ``RingHashLoadBalancer::Ring::Ring`` literally (spec §4.2-§4.3).

    *keys* are the hosts' hash keys (by host index); *order*/*weights* are
    Envoy's iteration order and normalized weights (``_weights.prepare``).
    Returns the ring as ``(hash, host_index)`` sorted by hash, ties by host
    index then replica number (hashlb's documented rule).
    """
    import math

    import xxhash

    if not order:
        return []
    scale = min(math.ceil(min_weight * min_ring_size) / min_weight, float(max_ring_size))
    entries: list[tuple[int, int, int]] = []  # (hash, host index, replica)
    current_hashes = 0.0
    target_hashes = 0.0
    for host, weight in zip(order, weights, strict=True):
        target_hashes += scale * weight
        i = 0
        while current_hashes < target_hashes:
            hash_key = keys[host] + b"_" + str(i).encode()
            if hash_function == "murmur_hash_2":
                h = murmur2_64_reference(hash_key)
            else:
                h = xxhash.xxh64_intdigest(hash_key)
            entries.append((h, host, i))
            i += 1
            current_hashes += 1
    entries.sort()
    return [(h, host) for h, host, _ in entries]


def ring_lookup_reference(ring: list[tuple[int, int]], h: int, attempt: int = 0) -> int | None:
    """Walk the ring linearly: the first entry with hash >= h, else entry 0; then + attempt."""
    if not ring:
        return None
    p = 0
    for j, (entry_hash, _) in enumerate(ring):
        if entry_hash >= h:
            p = j
            break
    return ring[(p + attempt) % len(ring)][1]


def maglev_reference(
    keys: list[bytes],
    order: list[int],
    weights: list[float],
    table_size: int,
    tie: object = None,
) -> tuple[list[int], list[int]]:
    """Transcribe the Maglev paper's Populate (Pseudocode 1) with Envoy's weighted rounds.

    Eisenbud et al., NSDI 2016, §3.4, as Envoy's ``MaglevTable`` runs it
    (spec §5.2): hosts sorted by key bytes (ties by ``tie(host_index)``, then
    host index), full permutation lists ``permutation[i][j] = (offset + j *
    skip) % M``, and a host takes a turn only if ``iteration * weight >=
    target_weight``.  *keys* are indexed by host index; *order*/*weights*
    are Envoy's iteration order and normalized weights.  Returns
    ``(table, count per host index)``; an empty *order* gives an empty table.
    """
    import xxhash

    m = table_size
    counts = [0] * len(keys)
    if not order:
        return [], counts
    hosts = sorted(
        zip(order, weights, strict=True),
        key=lambda hw: (keys[hw[0]], tie(hw[0]) if callable(tie) else 0, hw[0]),
    )
    max_weight = max(weights)
    permutation = []
    for host, _ in hosts:
        offset = xxhash.xxh64_intdigest(keys[host], 0) % m
        skip = xxhash.xxh64_intdigest(keys[host], 1) % (m - 1) + 1
        permutation.append([(offset + j * skip) % m for j in range(m)])
    next_ = [0] * len(hosts)
    target_weight = [0.0] * len(hosts)
    entry = [-1] * m
    n = 0
    iteration = 1
    while True:
        for i, (host, weight) in enumerate(hosts):
            if n == m:
                return entry, counts
            if iteration * weight < target_weight[i]:
                continue
            target_weight[i] += max_weight
            c = permutation[i][next_[i] % m]
            while entry[c] >= 0:
                next_[i] += 1
                c = permutation[i][next_[i] % m]
            entry[c] = host
            next_[i] += 1
            counts[host] += 1
            n += 1
        if n == m:
            return entry, counts
        iteration += 1


def maglev_rounds_reference(
    keys: list[bytes],
    order: list[int],
    weights: list[float],
    table_size: int,
    tie: object = None,
) -> tuple[list[int], list[int]]:
    """Envoy's ``OriginalMaglevTable`` fill, round by round, with no shortcut.

    The same model as :func:`maglev_reference`, written the way Envoy's loop
    is (spec §5.2): ``permutation(entry) = (offset + skip * next) % M`` is
    computed when it is needed instead of listed in advance, so memory is
    O(M + hosts) and skewed weights (about M rounds) stay affordable at
    moderate sizes.  Every host is tested in every round (``iteration`` is a
    u32, the test is ``iteration * weight < target_weight`` in doubles): the
    plain O(rounds x hosts) fill the fast builds must equal.  Returns
    ``(table, count per host index)``.
    """
    import xxhash

    m = table_size
    counts = [0] * len(keys)
    if not order:
        return [], counts
    entries = sorted(
        zip(order, weights, strict=True),
        key=lambda hw: (keys[hw[0]], tie(hw[0]) if callable(tie) else 0, hw[0]),
    )
    max_weight = max(weights)
    offset = [xxhash.xxh64_intdigest(keys[h], 0) % m for h, _ in entries]
    skip = [xxhash.xxh64_intdigest(keys[h], 1) % (m - 1) + 1 for h, _ in entries]
    next_ = [0] * len(entries)
    target_weight = [0.0] * len(entries)
    table: list[int | None] = [None] * m
    table_index = 0
    iteration = 1
    while table_index < m:
        for i, (host, weight) in enumerate(entries):
            if table_index >= m:
                break
            if iteration * weight < target_weight[i]:
                continue
            target_weight[i] += max_weight
            c = (offset[i] + skip[i] * next_[i]) % m
            while table[c] is not None:
                next_[i] += 1
                c = (offset[i] + skip[i] * next_[i]) % m
            table[c] = host
            next_[i] += 1
            counts[host] += 1
            table_index += 1
        iteration = (iteration + 1) & 0xFFFFFFFF
    return [h for h in table if h is not None], counts


def mt19937_reference(seed: int):  # type: ignore[no-untyped-def]
    """Return ``std::mt19937(seed)`` as a generator of uint32 outputs (textbook MT19937)."""
    n, m_ = 624, 397
    state = [seed & 0xFFFFFFFF]
    for i in range(1, n):
        state.append((1812433253 * (state[-1] ^ (state[-1] >> 30)) + i) & 0xFFFFFFFF)
    while True:
        for k in range(n):
            y = (state[k] & 0x80000000) | (state[(k + 1) % n] & 0x7FFFFFFF)
            state[k] = state[(k + m_) % n] ^ (y >> 1) ^ (0x9908B0DF if y % 2 else 0)
        for k in range(n):
            y = state[k]
            y ^= y >> 11
            y ^= (y << 7) & 0x9D2C5680
            y ^= (y << 15) & 0xEFC60000
            y ^= y >> 18
            yield y


def bounded_load_reference(
    first: int | None,
    hash_: int,
    active: list[int],
    order: list[int],
    weights: list[float],
    factor: int,
    overall: int,
) -> int | None:
    """Transcribe ``BoundedLoadHashingLoadBalancer::chooseHost`` (spec §6) statement by statement.

    *first* is the inner table's host index (None: no host); *order*/*weights*
    are Envoy's normalized host weights.  Returns the chosen host index.
    """
    import math

    if first is None:
        return None
    weight_map = dict(zip(order, weights, strict=True))

    def overload_factor(host: int, weight: float) -> float:
        overall_active = overall % 2**32
        total_slots = (((overall_active + 1) * factor + 99) % 2**32) // 100
        slots = max(math.ceil(total_slots * weight) % 2**32, 1)
        return active[host] / slots

    overload = overload_factor(first, weight_map[first])
    if overload <= 1.0:
        return first
    rng = mt19937_reference(hash_)
    num_hosts = len(order)
    host_index = list(range(num_hosts))
    least_overloaded_host = first
    least_overload_factor = overload
    for i in range(num_hosts):
        k = num_hosts - i  # std::uniform_int_distribution(0, k - 1), libstdc++ division rule
        while True:
            j = next(rng) // (2**32 // k)
            if j < k:
                break
        host_index[i], host_index[i + j] = host_index[i + j], host_index[i]
        alt_host = order[host_index[i]]
        if alt_host == first:
            continue
        alt_overload = overload_factor(alt_host, weights[host_index[i]])
        if alt_overload <= 1.0:
            return alt_host
        if least_overload_factor > alt_overload:
            least_overloaded_host = alt_host
            least_overload_factor = alt_overload
    return least_overloaded_host


def envoy_priority_state(
    levels: list[tuple[int, int, int, int, int, int, int]],
    factor: int,
    threshold: int,
) -> tuple[list[int], list[int], list[bool]]:
    """Envoy's LoadBalancerBase constructor, step by step (an independent model of spec-2 §14.4-14.5).

    *levels* holds per level ``(hosts, healthy, degraded, excluded, H, D, T)``: the counts,
    then the availability amounts.  Like Envoy's constructor, this runs the per-priority
    update once per level in order (loads from the earlier runs stay when the total
    availability is 0), then the panic pass.
    """
    n = len(levels)
    health, degraded = [0] * n, [0] * n
    healthy_load, degraded_load = [0] * n, [0] * n
    normalized = 0
    for p in range(n):
        hosts, _h, _d, excluded, h_amt, d_amt, total = levels[p]
        if hosts - excluded == 0:
            health[p] = degraded[p] = 0
        else:
            health[p] = min(100, factor * h_amt // total)
            degraded[p] = min(100, factor * d_amt // total)
        normalized = min(100, sum(health) + sum(degraded))
        if normalized == 0:
            continue
        remaining = 100
        first_h = first_d = -1
        for i in range(n):
            healthy_load[i] = min(remaining, health[i] * 100 // normalized)
            remaining -= healthy_load[i]
            if health[i] > 0 and first_h == -1:
                first_h = i
        for i in range(n):
            degraded_load[i] = min(remaining, degraded[i] * 100 // normalized)
            remaining -= degraded_load[i]
            if degraded[i] > 0 and first_d == -1:
                first_d = i
        if remaining:
            if first_h != -1:
                healthy_load[first_h] += remaining
            else:
                degraded_load[first_d] += remaining
    panic = [False] * n
    if threshold == 0 and normalized == 0:
        healthy_load[0] = 100
        return healthy_load, degraded_load, panic
    total_panic = True
    for i, (hosts, h, d, excluded, *_rest) in enumerate(levels):
        if normalized == 100:
            panic[i] = False
        else:
            count = hosts - excluded
            healthy_pct = 0.0 if count == 0 else 100.0 * h / count
            degraded_pct = 0.0 if count == 0 else 100.0 * d / count
            panic[i] = (healthy_pct + degraded_pct) < threshold
        total_panic = total_panic and panic[i]
    if total_panic:
        everyone = sum(lv[0] for lv in levels)
        if everyone == 0:
            healthy_load[0] = 100
        else:
            for i, lv in enumerate(levels):
                healthy_load[i] = 100 * lv[0] // everyone
                degraded_load[i] = 0
            short = 100 - sum(healthy_load)
            if short:
                healthy_load[next(i for i, lv in enumerate(levels) if lv[0])] += short
    return healthy_load, degraded_load, panic


#: EDS health -> (coarse health, excluded), newest Envoy (spec-2 §14.2).
_COARSE_REFERENCE = {
    "unknown": ("healthy", False),
    "healthy": ("healthy", False),
    "degraded": ("degraded", False),
    "unhealthy": ("unhealthy", False),
    "timeout": ("unhealthy", False),
    "draining": ("unhealthy", True),
    "excluded": ("unhealthy", True),
}


def bounded_cluster_reference(
    hosts: list[Any],
    hash_: int,
    attempt: int,
    active: list[int],
    factor: int,
    make_table: Any,
    threshold: int = 50,
) -> int | None:
    """Envoy's bounded load over a cluster, from the hosts up (spec-2 §14.4-14.7, spec §6).

    Groups *hosts* by priority, derives each level's counts, loads and panic
    with :func:`envoy_priority_state` (overprovisioning 140), chooses the level
    by ``hash % 100 + 1``, builds that level's table with ``make_table(hosts)``
    (its healthy hosts, or all of them in panic), and runs
    :func:`bounded_load_reference` on it with the cluster-wide total of
    *active* (aligned with *hosts*).  Returns the chosen index in *hosts*.
    """
    top = max((h.priority for h in hosts), default=0)
    members: list[list[int]] = [[] for _ in range(top + 1)]
    for i, h in enumerate(hosts):
        members[h.priority].append(i)
    levels = []
    for idx in members:
        states = [_COARSE_REFERENCE[hosts[i].health] for i in idx]
        x = sum(1 for _, out in states if out)
        hl = sum(1 for c, out in states if c == "healthy" and not out)
        d = sum(1 for c, out in states if c == "degraded" and not out)
        levels.append((len(idx), hl, d, x, hl, d, len(idx) - x))
    healthy, degraded, panic = envoy_priority_state(levels, 140, threshold)
    x = hash_ % 100 + 1
    cumulative, level = 0, 0
    for p, load in enumerate(healthy + degraded):
        cumulative += load
        if x <= cumulative:
            level = p % len(healthy)
            break
    chosen = [
        i
        for i in members[level]
        if panic[level] or _COARSE_REFERENCE[hosts[i].health] == ("healthy", False)
    ]
    if not chosen:
        return None
    table = make_table([hosts[i] for i in chosen])
    host = table.lookup(hash_, attempt)
    if host is None:
        return None
    first = chosen[table.hosts.index(host)]
    order = [chosen[k] for k in table.normalized_order]
    return bounded_load_reference(
        first, hash_, active, order, list(table.normalized_weights), factor, sum(active)
    )
