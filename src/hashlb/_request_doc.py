"""The docstrings the two ``request`` twins share (``_docstrings.py`` explains the scheme)."""

DOCS: dict[str, str] = {
    "Request": """Request(*, headers=None, path=None, remote_address=None, local_address=None, method=None, authority=None, scheme=None, filter_state=None)
--

The parts of an HTTP request that hash policies read.

Nothing is copied or decoded up front: a list of header pairs is kept as
given and scanned on demand, so building a request costs almost nothing.

:param headers: a mapping (values may be lists for repeated headers), a
    list of ``(name, value)`` pairs (repeated names allowed), or raw
    ``(bytes, bytes)`` pairs as ASGI gives them.  Names match
    ASCII-case-insensitively; ``str`` is read as UTF-8.  Text is
    ``str``, ``bytes`` or ``bytearray``, a subclass read by its value
    (none of its methods is called); a pair is a 2-item tuple or list.
    Entries that are not pairs of text are ignored.
:param path: the ``:path`` (``"/p?q=1"``), not percent-decoded.
:param remote_address: the peer: ``"10.0.0.7:51234"``,
    ``"[2001:db8::1]:443"``, a bare IP, or a ``(host, port)`` tuple.
:param local_address: the address the request arrived on, same forms.
:param method: ``:method``.
:param authority: ``:authority``; if None, the ``host`` header is used.
:param scheme: ``:scheme``.
:param filter_state: Envoy's filter state as hash policies see it:
    ``{key: hash}``, where *hash* is what the object's ``Hashable::hash()``
    returns, an int in ``[0, 2**64)``.  A key whose value is anything
    else (None included) is an object that is not hashable; a mapping
    that cannot be read is no filter state.  Read by :class:`FilterState`.
:raises TypeError: *headers* is neither a mapping nor an iterable.

Pseudo-headers (``:path``, ``:authority``, ``:method``, ``:scheme``) are
read by :class:`Header` from these arguments, or from a pair of that name
in *headers* when the argument is None.

The arguments are keyword-only; passing them by position still works for
one release, with a ``DeprecationWarning``.

>>> r = Request(headers=[(b"x-user", b"alice")], path="/a?b=1")
>>> r.get_all("X-User"), r.get_all(":path")
([b'alice'], [b'/a?b=1'])
""",
    "Request.from_asgi": """Return the request of an ASGI ``http`` or ``websocket`` *scope*.

The header list is referenced, not copied or decoded.  ``:path`` is
``raw_path`` (else ``path``) plus ``?`` and ``query_string``; the
remote and local addresses are ``client`` and ``server``.

:param scope: the ASGI connection scope.
:raises TypeError: *scope* is not a mapping.

>>> scope = {"type": "http", "headers": [(b"x-user", b"alice")],
...          "path": "/", "query_string": b"", "client": ("10.0.0.7", 51234)}
>>> Request.from_asgi(scope).remote_address
('10.0.0.7', 51234)
""",
    "Request.from_wsgi": """Return the request described by a WSGI *environ*.

Headers come from the ``HTTP_*`` keys plus ``CONTENT_TYPE`` and
``CONTENT_LENGTH`` (``_`` becomes ``-``), values encoded back to the
bytes they were (WSGI strings are latin-1).  ``:path`` is
``RAW_URI`` or ``REQUEST_URI`` when the server provides them (the
raw request target, as Envoy sees it), else ``SCRIPT_NAME`` +
``PATH_INFO`` (which servers percent-decode) + ``?QUERY_STRING``.
The remote address is ``REMOTE_ADDR``/``REMOTE_PORT``; the local one
``SERVER_ADDR`` (else ``SERVER_NAME``) and ``SERVER_PORT``.

:param environ: the WSGI environment.
:raises TypeError: *environ* is not a mapping.

>>> env = {"HTTP_X_USER": "alice", "PATH_INFO": "/", "REMOTE_ADDR": "10.0.0.7"}
>>> Request.from_wsgi(env).get_all("x-user")
[b'alice']
""",
    "Request.filter_state": """The hashable filter state entries, ``{key: hash}`` (read-only; empty if none).
""",
    "Request.get_all": """Return every value of header *name* as bytes, in request order.

*name* matches ASCII-case-insensitively.  A pseudo-header
(``:path``, ``:authority``, ``:method``, ``:scheme``) gives the
matching argument; ``:authority`` falls back to the ``host`` header.

:param name: the header name.

>>> Request(headers={"Accept": ["a", "b"]}).get_all("accept")
[b'a', b'b']
""",
    "Request.headers": """The header pairs, as given (a mapping is turned into a list of pairs).
""",
    "Request.path": """``:path`` as given (str or bytes), or None.
""",
    "Request.remote_address": """The peer's address as given (text or a ``(host, port)`` tuple), or None.
""",
    "Request.local_address": """The local address as given (text or a ``(host, port)`` tuple), or None.
""",
    "Request.method": """``:method`` as given, or None.
""",
    "Request.authority": """``:authority`` as given, or None (then the ``host`` header stands in).
""",
    "Request.scheme": """``:scheme`` as given, or None.
""",
}
