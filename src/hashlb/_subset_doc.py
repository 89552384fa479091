"""The docstrings the two ``subset`` twins share (``_docstrings.py`` explains the scheme)."""

DOCS: dict[str, str] = {
    "WeightedSubsetPicker": """WeightedSubsetPicker(weights, *, mode='sticky', seed=0)
--

Choose a subset by weight from a 64-bit value: Envoy's way or sticky.

:param weights: subset name -> weight (an int in ``[0, 2**32 - 1]``), in
    the order Envoy's ``weighted_clusters`` would list them.  At least one
    weight must be non-zero and the sum must fit in 32 bits.  A weight of
    0 is allowed and never chosen.
:param str mode: ``"sticky"`` (default): weighted rendezvous hashing, a
    pure function of the value and the weights, with exact proportions
    and minimal movement when weights change.  ``"envoy"``: ``value %
    total`` over the subsets in mapping order, exactly as Envoy picks a
    weighted cluster (``source/common/router/weighted_cluster_specifier.cc``).
:param int seed: the seed of the sticky mode's per-subset salts, in
    ``[0, 2**64)``.  Routers that must agree use the same seed.
:raises TypeError: *weights* is not a mapping of str to int, or *seed*
    is not an int.
:raises ~hashlb.ConfigError: no subsets, an empty name, a weight out of
    range, all weights 0, a sum above ``2**32 - 1``, an unknown *mode*
    or a *seed* out of range.

>>> canary = WeightedSubsetPicker({"safe": 99, "risky": 1})
>>> canary.choose(0x9E3779B97F4A7C15)
'safe'
>>> canary.names, canary.total
(('safe', 'risky'), 100)
>>> envoy = WeightedSubsetPicker({"cluster1": 30, "cluster2": 30, "cluster3": 40}, mode="envoy")
>>> [envoy.choose(v) for v in (115, 445, 560)]
['cluster1', 'cluster2', 'cluster3']
""",
    "WeightedSubsetPicker.choose_index": """choose_index($self, /, value)
--

Return the position in ``names`` of the subset chosen for *value*.

:param int value: the request hash (sticky mode) or Envoy's random,
    header or hash-policy value (envoy mode), in ``[0, 2**64)``.
:raises TypeError: *value* is not an int.
:raises ValueError: *value* is out of range.

>>> WeightedSubsetPicker({"a": 1, "b": 1}, mode="envoy").choose_index(3)
1
""",
    "WeightedSubsetPicker.choose": """choose($self, /, value)
--

Return the name of the subset chosen for *value*.

:param int value: the request hash (sticky mode) or Envoy's random,
    header or hash-policy value (envoy mode), in ``[0, 2**64)``.
:raises TypeError: *value* is not an int.
:raises ValueError: *value* is out of range.

>>> WeightedSubsetPicker({"safe": 1, "risky": 0}).choose(12345)
'safe'
""",
    "WeightedSubsetPicker.choose_many": """Return the chosen subset index (into ``names``) for every value.

:param values: a C-contiguous uint64 buffer (``numpy.uint64`` array,
    ``array('Q')``) or an iterable of ints in ``[0, 2**64)``.
:returns: uint32 indices: a numpy array for a numpy input, else
    ``array('I')``.  Element *k* equals ``choose_index(values[k])``.
:raises TypeError: *values* is not a uint64 buffer or iterable of ints.
:raises ValueError: an int is out of range.

>>> list(WeightedSubsetPicker({"a": 1, "b": 1}, mode="envoy").choose_many([0, 1, 2]))
[0, 1, 0]
""",
    "WeightedSubsetPicker.pick_index": """pick_index($self, /, value)
--

Deprecated alias of ``choose_index()`` (removed in the next release).
""",
    "WeightedSubsetPicker.pick": """pick($self, /, value)
--

Deprecated alias of ``choose()`` (removed in the next release).
""",
    "WeightedSubsetPicker.pick_many": """Deprecated alias of ``choose_many()`` (removed in the next release).
""",
    "WeightedSubsetPicker.with_weights": """Return a new picker with *weights* and the same mode and seed.

:param weights: the new subset name -> weight mapping.
:raises TypeError: as for the constructor.
:raises ~hashlb.ConfigError: as for the constructor.

>>> WeightedSubsetPicker({"safe": 99, "risky": 1}).with_weights({"safe": 95, "risky": 5}).total
100
""",
    "WeightedSubsetPicker.names": """The subset names in mapping order; ``choose_index()`` indexes this.
""",
    "WeightedSubsetPicker.weights": """The weights, a read-only mapping in the given order.
""",
    "WeightedSubsetPicker.mode": """``"sticky"`` or ``"envoy"``.
""",
    "WeightedSubsetPicker.seed": """The seed of the sticky mode's salts.
""",
    "WeightedSubsetPicker.total": """The sum of the weights (Envoy's ``total``).
""",
    "WeightedSubsetPicker.salts": """The sticky mode's per-subset salts, ``xxh64(name, seed)``, aligned with ``names``.
""",
}
