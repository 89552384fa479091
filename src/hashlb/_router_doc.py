"""The docstrings the two ``router`` twins share (``_docstrings.py`` explains the scheme)."""

DOCS: dict[str, str] = {
    "Route": """Route(subset, host, hash, set_cookie, lookup_hash)
--

Where a request goes: the subset, the host, and the hashes that chose them.

:class:`~hashlb.Router` returns one per request.  Routes compare equal
field by field and unpack like a tuple, in the order of the parameters.

:param str subset: the subset (weighted destination) chosen.
:param host: the :class:`~hashlb.Host` chosen inside the subset.
:param hash: the route hash from the hash policy, or None when the
    policy yielded none.
:param set_cookie: the ``Set-Cookie`` header value to send with the
    response (a generated cookie), or None.
:param int lookup_hash: the hash the host was looked up with: *hash*,
    or the random hash drawn when *hash* is None.

>>> from hashlb import Route
>>> r = Route("safe", None, 42, None, 42)
>>> r.subset, r.hash, r.lookup_hash
('safe', 42, 42)
>>> subset, host, h, cookie, lookup_hash = r
""",
    "Route.subset": """The subset (weighted destination) chosen.
""",
    "Route.host": """The ``Host`` chosen inside the subset, or None when it has none to choose.
""",
    "Route.hash": """The route hash from the policy, or None when the policy yielded none.
""",
    "Route.set_cookie": """The ``Set-Cookie`` header value to send, or None.
""",
    "Route.lookup_hash": """The hash the host was looked up with: ``hash``, or a random one.
""",
}
