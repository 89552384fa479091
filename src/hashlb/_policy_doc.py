"""The docstrings the two ``policy`` twins share (``_docstrings.py`` explains the scheme)."""

DOCS: dict[str, str] = {
    "Cookie": """Cookie(name, *, ttl=None, path=None, attributes=None, terminal=False)
--

Hash a cookie's value (Envoy's hash_policy.cookie), generating one if asked.

The ``cookie`` headers are parsed as Envoy parses them (``Http::Utility::parseCookieValue``): split
on ``;``, the name runs from the first non-space to the first ``=``, the
value is not trimmed but one pair of surrounding quotes is removed, and
the first exact (case-sensitive) match wins.  A non-empty value gives
``xxh64(value)``.  A missing or empty cookie gives no hash unless *ttl* is
set: then the value ``'%016x' % xxh64(remote + local address)`` is
generated, hashed, and returned as a ``Set-Cookie`` by
:meth:`HashPolicy.evaluate`.  With either address missing, no hash.

:param str name: the cookie name (case-sensitive).
:param ttl: ``Max-Age`` of a generated cookie: ``int`` seconds or a
    ``timedelta`` (whole seconds are used); ``0`` makes a session cookie;
    None generates nothing.
:param path: the ``Path`` attribute of a generated cookie.
:param attributes: more attributes, a mapping or ``(name, value)``
    pairs (an empty value writes the bare name).
:param bool terminal: stop the policy here if a hash exists.
:raises ConfigError: empty *name*, a negative *ttl*, or text that cannot
    go into a ``Set-Cookie`` header.
:raises TypeError: an argument has the wrong type.

*ttl*, *path* and *attributes* are keyword-only; passing them by position
still works for one release, with a ``DeprecationWarning``.

>>> Cookie("session").hash(Request(headers={"cookie": 'a=1; session="foo"'}))
3728699739546630719
""",
    "Cookie.evaluate": """Return the hash and the ``Set-Cookie`` to send, if one was generated.

:param Request request: the request.
:raises TypeError: *request* is not a :class:`Request`.
""",
    "Cookie.set_cookie_value": """Return the ``Set-Cookie`` header value Envoy writes for *value*.

``name="value"``, then ``; Max-Age=<ttl>`` unless ttl is 0 (or None),
``; Path=<path>`` if set, each attribute, and ``; HttpOnly``.

:param str value: the cookie value.

>>> Cookie("s", ttl=60, path="/").set_cookie_value("00ff")
's="00ff"; Max-Age=60; Path=/; HttpOnly'
""",
    "_Method": """Base of the hash methods: immutable, compared by configuration.
""",
    "_Method.hash": """Return this method's hash of *request*, or None.

:param Request request: the request.
:raises TypeError: *request* is not a :class:`Request`.
""",
    "_Method.hash_many": """Hash every row of a table of requests with this method alone.

``HashPolicy(method).hash_many(columns, out=out)``: see
:meth:`HashPolicy.hash_many` for the columns and the result.

:param columns: the request columns, all of the same length.
:param out: a preallocated ``numpy.uint64`` array for the hashes.
:returns: ``(hashes, no_hash)``, numpy ``uint64`` and ``bool`` arrays.
""",
    "FilterState": """FilterState(key, *, terminal=False)
--

Hash an object of the request's filter state (Envoy's hash_policy.filter_state).

If the filter state holds a hashable object under *key*, its hash is the
result as it is (not hashed again, and not seeded by
``HashPolicy(seed=...)``); a missing key, a null value or an object that
is not hashable gives no hash (``FilterStateHashMethod`` in ``source/common/http/hash_policy.cc``).  The request carries the
hashes: ``Request(filter_state={key: hash})``.  gRPC's xDS client honours
only the key ``io.grpc.channel_id``.

:param str key: the filter state key.
:param bool terminal: stop the policy here if a hash exists.
:raises ConfigError: empty *key*.
:raises TypeError: an argument has the wrong type.

>>> FilterState("hashable").hash(Request(filter_state={"hashable": 12345}))
12345
""",
    "HashPolicy": """HashPolicy(*policies, seed=0)
--

An ordered list of hash methods: an Envoy route's hash_policy (HashPolicyImpl, in Envoy's source/common/http/hash_policy.cc).

Methods are evaluated in order.  The first hash becomes the result; each
later one is folded in as ``rotl1(result) ^ hash``.  After a method with
``terminal=True``, evaluation stops if a hash exists.  If no method
yields a hash, the result is None (Envoy then balances randomly).

:param policies: :class:`Header`, :class:`Cookie`, :class:`SourceIP`, :class:`FilterState` and
    :class:`QueryParameter` objects (or one list of them).
:param int seed: the xxh64 seed of every value hashed, in ``[0, 2**64)``.
    ``0`` (the default) is Envoy's unseeded hash; a random secret seed
    (``secrets.randbits(64)``) makes the request -> hash mapping
    unpredictable to clients (hash flooding), and every proxy that must
    agree needs the same seed.  Multi-value headers chain from it.  The
    seed is not shown by ``repr``.
:raises TypeError: an argument is not a hash method, or *seed* is not an int.
:raises ~hashlb.ConfigError: *seed* is out of range.

>>> policy = HashPolicy(Header("x-user"), SourceIP())
>>> policy.hash(Request(headers={"x-user": "foo"}))  # xxh64("foo")
3728699739546630719
>>> HashPolicy(Header("x-user"), seed=7).hash(Request(headers={"x-user": "foo"}))  # xxh64("foo", 7)
8283876513818656790
""",
    "HashPolicy.hash": """Return the request hash, or None when no method yields one.

A cookie is still generated (and hashed) for a :class:`Cookie` with a
``ttl``; use :meth:`evaluate` to get its ``Set-Cookie`` value.

:param Request request: the request.
:raises TypeError: *request* is not a :class:`Request`.
""",
    "HashPolicy.hash_many": """Hash every row of a table of requests: ``(hashes, no_hash)``.

Each row gets the hash :meth:`hash` gives the :class:`Request` made of that
row's values (a null is a missing value), without building one: the
columns are read in place.  ``no_hash[i]`` is True where that hash is None
(``hashes[i]`` is 0 there).  Generated cookies are hashed as :meth:`hash`
hashes them; their ``Set-Cookie`` values are not returned.

*columns* maps request fields to columns: ``"header:<name>"`` (the name is
case-insensitive; a string or binary column, or a list of them for a
multi-valued header), ``"cookie:<name>"`` (that cookie's value, already
extracted; without it the ``"header:cookie"`` column is parsed),
``"path"`` (with its query string), ``"remote_address"``,
``"local_address"``, ``"method"``, ``"authority"``, ``"scheme"`` (text)
and ``"filter_state:<key>"`` (uint64).  A column is a pyarrow Array or
ChunkedArray, an object with ``__arrow_c_array__`` / ``__arrow_c_stream__``
(a polars or pandas Series), a numpy array or a list; *columns* itself may
also be a pyarrow Table or RecordBatch, or a pandas or polars DataFrame.

:param columns: the request columns, all of the same length.
:param out: a preallocated 1-D C-contiguous writable ``numpy.uint64``
    array of one item per row, which receives the hashes (and is returned).
:returns: ``(hashes, no_hash)``, numpy ``uint64`` and ``bool`` arrays.
:raises ValueError: a column name that is none of the forms above, columns
    of different lengths, or an invalid Arrow array.
:raises TypeError: a column of a type that cannot hold its field.
:raises ImportError: numpy or pyarrow is not installed.

>>> hashes, no_hash = HashPolicy(Header("x-user")).hash_many(
...     {"header:x-user": ["alice", None, "bob"]})
>>> no_hash.tolist()
[False, True, False]
>>> int(hashes[0]) == HashPolicy(Header("x-user")).hash(Request(headers={"x-user": "alice"}))
True
""",
    "HashPolicy.evaluate": """Return the request hash and the ``Set-Cookie`` values to send.

:param Request request: the request.
:raises TypeError: *request* is not a :class:`Request`.

>>> r = HashPolicy(Cookie("s", ttl=0)).evaluate(
...     Request(remote_address="10.0.0.1:34567", local_address="10.0.0.2:8080"))
>>> r.set_cookie
's="..."; HttpOnly'
""",
    "HashResult": """HashResult(hash, set_cookies=())
--

What HashPolicy.evaluate() returns: the hash and the cookies to set.

:param hash: the 64-bit request hash, or None (Envoy then picks randomly).
:param set_cookies: ``Set-Cookie`` header values generated by
    :class:`Cookie` methods with a ``ttl``, in policy order.

>>> HashResult(7).set_cookie is None
True
""",
    "HashResult.hash": """The 64-bit request hash, or None when no method produced one.
""",
    "HashResult.set_cookie": """The first ``Set-Cookie`` header value to send, or None.
""",
    "Header": """Header(name, *, regex_rewrite=None, terminal=False, envoy_version='main')
--

Hash every value of a request header (Envoy's hash_policy.header).

The values are optionally rewritten, sorted bytewise and hashed as a
seed chain (``HeaderHashMethod``); one value gives ``xxh64(value)``, a present but
empty header ``xxh64("")``, an absent header no hash.

:param str name: the header name, matched case-insensitively; the
    pseudo-headers ``:path``, ``:authority``, ``:method`` and ``:scheme``
    are allowed.
:param regex_rewrite: ``(pattern, substitution)``: replace every match
    in each value, as Envoy does (``RE2::GlobalReplace``).  The pattern is
    RE2 syntax, run by RE2 (the google-re2 package, linear time); the
    substitution uses Envoy's ``\\1`` style.
:param bool terminal: stop the policy here if a hash exists.
:param envoy_version: the Envoy release to reproduce (``"1.17"``, an
    :class:`~hashlb.versions.EnvoyProfile`, or ``"main"``, the newest):
    before 1.18 only the first value of the header is hashed.
:raises ConfigError: empty *name*, a pattern RE2 rejects, or a malformed
    substitution.
:raises TypeError: an argument has the wrong type.

>>> Header("x-user").hash(Request(headers={"x-user": "foo"}))
3728699739546630719
""",
    "QueryParameter": """QueryParameter(name, *, terminal=False)
--

Hash a query parameter of the request's :path (Envoy's hash_policy.query_parameter).

The query string (after the first ``?``) is split on ``&`` and each
piece at its first ``=``; the first exact, case-sensitive name match
wins, with **no percent-decoding**.  A present but empty value hashes
``""``; a missing parameter or path gives no hash.

:param str name: the parameter name.
:param bool terminal: stop the policy here if a hash exists.
:raises ConfigError: empty *name*.
:raises TypeError: an argument has the wrong type.

>>> QueryParameter("u").hash(Request(path="/p?x=1&u=foo&u=bar"))
3728699739546630719
""",
    "SourceIP": """SourceIP(*, xff_num_trusted_hops=0, use_remote_address=True, terminal=False)
--

Hash the client's IP address, without the port (Envoy's connection_properties.source_ip).

The address is the one Envoy's connection manager settles on (``IpHashMethod``)
and is hashed as text: IPv4 as a dotted quad, IPv6 compressed as
``inet_ntop`` writes it, without brackets.

* ``use_remote_address=True`` (Istio gateways and sidecars): with 0
  trusted hops, the connection's remote address; with N > 0, the N-th
  address from the right of ``X-Forwarded-For``.
* ``use_remote_address=False`` (Envoy's default): the address N + 1 from
  the right of ``X-Forwarded-For`` (with N = 0, the last one).

If ``X-Forwarded-For`` is absent, has too few entries or the chosen
entry is not an IP address, the connection's remote address is used, as
Envoy does.  An unusable remote address gives no hash.

:param int xff_num_trusted_hops: proxies in front whose
    ``X-Forwarded-For`` entries are trusted.
:param bool use_remote_address: Envoy's HCM ``use_remote_address``.
:param bool terminal: stop the policy here if a hash exists.
:raises ConfigError: a negative or too large *xff_num_trusted_hops*.
:raises TypeError: an argument has the wrong type.

The arguments are keyword-only; passing *xff_num_trusted_hops* by position
still works for one release, with a ``DeprecationWarning``.

>>> SourceIP().hash(Request(remote_address="[::1]:443"))  # xxh64("::1")
6441869463509800047
""",
    "SourceIP.client_ip": """Return the client IP text that is hashed, or None.

:param Request request: the request.
:raises TypeError: *request* is not a :class:`Request`.

>>> r = Request(headers={"x-forwarded-for": "203.0.113.9, 10.0.0.1"},
...             remote_address="10.0.0.2:5000")
>>> [SourceIP(xff_num_trusted_hops=n).client_ip(r) for n in (2, 1, 0)]
['203.0.113.9', '10.0.0.1', '10.0.0.2']
""",
    "HashResult.set_cookies": """Every ``Set-Cookie`` header value to send (usually zero or one).
""",
    "HashResult.response_set_cookies": """Return the ``Set-Cookie`` values the client receives, in order.

:param upstream: the upstream response's own ``Set-Cookie`` values (one
    ``str``/``bytes`` value or an iterable of them; ``bytes`` are read as
    Latin-1).

Envoy's router appends the generated cookies after the upstream response's
headers, even when the upstream already sets a cookie of the same name:
the client then receives both, the upstream's first.

>>> r = HashResult(7, ('foo="00000000000000aa"; Max-Age=1337; HttpOnly',))
>>> r.response_set_cookies(["foo=baz"])
('foo=baz', 'foo="00000000000000aa"; Max-Age=1337; HttpOnly')
>>> HashResult(7).response_set_cookies("a=1")
('a=1',)
""",
    "_Method.terminal": """Whether the policy stops here once a hash exists.
""",
    "Header.name": """The header name as configured.
""",
    "Header.regex_rewrite": """The ``(pattern, substitution)`` rewrite, or None.
""",
    "Cookie.name": """The cookie name.
""",
    "Cookie.ttl": """``Max-Age`` in whole seconds for generated cookies, or None (never generate).
""",
    "Cookie.path": """The ``Path`` of generated cookies, or None.
""",
    "Cookie.attributes": """Extra ``(name, value)`` attributes of generated cookies.
""",
    "SourceIP.xff_num_trusted_hops": """How many ``X-Forwarded-For`` hops are trusted.
""",
    "SourceIP.use_remote_address": """Envoy's HCM ``use_remote_address`` setting being modelled.
""",
    "QueryParameter.name": """The parameter name.
""",
    "FilterState.key": """The filter state key.
""",
    "HashPolicy.policies": """The hash methods, in evaluation order.
""",
    "HashPolicy.seed": """The xxh64 seed of the hashed values (0: Envoy's unseeded hash).
""",
}
