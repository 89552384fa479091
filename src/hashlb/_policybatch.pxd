# cython: language_level=3
"""The compiled kernels of ``HashPolicy.hash_many`` (``hashlb._hashmany``), for ``_policy_c``.

Each reads Arrow chunks through ``_colread`` (opened and checked by
``hlb_col_check``) and runs the loops of ``_hashmany.h`` with the GIL
released: xxh64 of every row of a text column, a cookie / query parameter /
cookie value found in every row and hashed, a multi-valued header per row
of a list column (Envoy's sorted chain), the fold of one method's hashes
into the policy's; ``SourceIP`` calls the address parsers of ``_request_c``
row by row.  Every function is ``cdef inline``, compiled into
``_policy_c``, which wraps them for the shared driver.
"""
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int64_t, uint8_t, uint64_t

from hashlb._colread cimport col_close, col_hold, col_open, hash_chunks, hlb_col, writable
from hashlb._kernels cimport hlb_xxh64
from hashlb._request_c cimport _connection_ip, _xff_ip


cdef extern from "_hashmany.h" nogil:
    int64_t hlb_col_find_hash(const hlb_col *c, int mode, const uint8_t *name, int64_t nl,
                              uint64_t seed, uint64_t *out, uint8_t *has, int *err)
    void hlb_fold(uint64_t *h, uint8_t *have, uint8_t *done, const uint64_t *v,
                  const uint8_t *has, int64_t n, int terminal)
    ctypedef struct hlb_span:
        const uint8_t *p
        int64_t n
    int64_t hlb_list_chain(const uint8_t *validity, int64_t validity_size, int64_t loff,
                           const uint8_t *offsets, int64_t offsets_size, int w,
                           const hlb_col *child, int64_t n, int first_only, uint64_t seed,
                           hlb_span *scratch, int64_t scratch_n, uint64_t *out,
                           uint8_t *has, int *err)


cdef inline tuple text_hashes(object arr, uint64_t seed, object out):
    """xxh64 (*seed*) of every row of a binary Arrow array, GIL released: (hashes, has).

    The hashes go into *out* (a checked uint64 array) unless it is None.
    """
    cdef Py_buffer dst, nul
    import numpy
    from hashlb._columns import key_columns
    chunks = key_columns(arr)
    hashes = numpy.empty(len(arr), numpy.uint64) if out is None else out
    null = numpy.zeros(len(arr), numpy.uint8)
    from hashlb._columns import rows
    cdef Py_ssize_t n = rows(chunks)
    cdef uint64_t *p = <uint64_t *>writable(hashes, &dst)
    cdef uint8_t *q
    try:
        if dst.len < 8 * n or len(null) < n:
            raise ValueError("text_hashes: out is shorter than the column")
        q = <uint8_t *>writable(null, &nul)
        try:
            hash_chunks(chunks, seed, p, q)
        finally:
            PyBuffer_Release(&nul)
    finally:
        PyBuffer_Release(&dst)
    numpy.logical_not(null, out=null)
    return hashes, null.view(numpy.bool_)


cdef inline int fold(object h, object have, object done, object v, object has,
                     bint terminal) except -1:
    """Fold one method's (*v*, *has*) into the policy's (*h*, *have*, *done*), in place."""
    cdef Py_buffer bh, bhave, bdone, bv, bhas
    cdef int64_t n = len(h)
    cdef int stop = 1 if terminal else 0
    cdef uint64_t *ph = <uint64_t *>writable(h, &bh)
    cdef uint8_t *phave
    cdef uint8_t *pdone
    cdef uint8_t *pv
    cdef uint8_t *phas
    try:
        phave = writable(have, &bhave)
        try:
            pdone = writable(done, &bdone)
            try:
                pv = writable(v, &bv)
                try:
                    phas = writable(has, &bhas)
                    try:
                        if (bh.len < 8 * n or bv.len < 8 * n or bhave.len < n
                                or bdone.len < n or bhas.len < n):
                            raise ValueError("fold: buffers shorter than the rows")
                        with nogil:
                            hlb_fold(ph, phave, pdone, <const uint64_t *>pv, phas, n, stop)
                    finally:
                        PyBuffer_Release(&bhas)
                finally:
                    PyBuffer_Release(&bv)
            finally:
                PyBuffer_Release(&bdone)
        finally:
            PyBuffer_Release(&bhave)
    finally:
        PyBuffer_Release(&bh)
    return 0


cdef inline tuple find_hashes(object arr, bytes name, uint64_t seed, int mode):
    """The cookie (*mode* 0) or query parameter (1) *name* of every row, hashed: (hashes, has)."""
    cdef Py_buffer hv, sv
    cdef col_hold h
    cdef Py_ssize_t base = 0
    cdef int64_t bad = -1
    cdef int err = 0
    cdef const uint8_t *nm = <const uint8_t *>PyBytes_AS_STRING(name)
    cdef int64_t nl = PyBytes_GET_SIZE(name)
    import numpy
    from hashlb._columns import key_columns
    chunks = key_columns(arr)
    hashes = numpy.zeros(len(arr), numpy.uint64)
    has = numpy.zeros(len(arr), numpy.bool_)
    cdef uint64_t *hp = <uint64_t *>writable(hashes, &hv)
    cdef uint8_t *sp
    try:
        sp = writable(has, &sv)
        try:
            for chunk in chunks:
                col_open(&h, chunk, base)
                try:
                    with nogil:
                        bad = hlb_col_find_hash(&h.c, mode, nm, nl, seed, hp + base, sp + base,
                                                &err)
                    if bad >= 0:
                        from hashlb._columns import column_error
                        raise column_error(err, base + bad)
                finally:
                    col_close(&h)
                base += chunk[1]
        finally:
            PyBuffer_Release(&sv)
    finally:
        PyBuffer_Release(&hv)
    return hashes, has


cdef inline tuple list_hashes(object arr, uint64_t seed, bint first_only):
    """A multi-valued header per row of a list<binary> Arrow array, hashed: (hashes, has).

    Envoy's rule: the values sorted and chained through the seed, or only
    the first (*first_only*).
    """
    cdef Py_buffer hv, sv, vb, ob
    cdef col_hold h
    cdef int64_t bad = -1, n = len(arr), longest = 0, loff = arr.offset
    cdef int err = 0
    cdef int w = 8 if str(arr.type).startswith("large_list") else 4
    cdef uint64_t s = seed
    cdef int first = 1 if first_only else 0
    cdef hlb_span *scratch = NULL
    cdef const uint8_t *vp = NULL
    cdef int64_t vsize = 0
    import numpy
    hashes = numpy.zeros(n, numpy.uint64)
    has = numpy.zeros(n, numpy.bool_)
    if n == 0:
        return hashes, has
    bufs = arr.buffers()
    validity = bufs[0] if arr.null_count else None
    offs = numpy.frombuffer(bufs[1], numpy.int32 if w == 4 else numpy.int64)
    offs = offs[arr.offset : arr.offset + n + 1]
    if len(offs) == n + 1:
        longest = max(int((offs[1:] - offs[:n]).max()), 0)
    from hashlb._columns import key_columns
    chunks = key_columns(arr.values)
    if len(chunks) != 1:
        raise TypeError("a list column's values must be one binary array")
    hp = <uint64_t *>writable(hashes, &hv)
    try:
        sp = writable(has, &sv)
        try:
            col_open(&h, chunks[0], 0)
            try:
                scratch = <hlb_span *>PyMem_Malloc(sizeof(hlb_span) * <size_t>(longest + 1))
                if scratch == NULL:
                    raise MemoryError()
                PyObject_GetBuffer(bufs[1], &ob, PyBUF_SIMPLE)
                try:
                    if validity is not None:
                        PyObject_GetBuffer(validity, &vb, PyBUF_SIMPLE)
                        vp = <const uint8_t *>vb.buf
                        vsize = vb.len
                    try:
                        with nogil:
                            bad = hlb_list_chain(vp, vsize, loff, <const uint8_t *>ob.buf,
                                                 ob.len, w, &h.c, n, first, s, scratch, longest,
                                                 hp, sp, &err)
                    finally:
                        if validity is not None:
                            PyBuffer_Release(&vb)
                finally:
                    PyBuffer_Release(&ob)
                if bad >= 0:
                    from hashlb._columns import column_error
                    raise column_error(err, bad)
            finally:
                PyMem_Free(scratch)
                col_close(&h)
        finally:
            PyBuffer_Release(&sv)
    finally:
        PyBuffer_Release(&hv)
    return hashes, has


cdef inline tuple source_ip_hashes(list remotes, list xffs, unsigned long long skip,
                                   bint remote, uint64_t s):
    """``SourceIP``'s hash of every row (remote address, X-Forwarded-For values)."""
    cdef Py_buffer hv, sv
    cdef Py_ssize_t i, n = len(remotes)
    cdef uint64_t *hp
    cdef uint8_t *sp
    cdef object ip
    if len(xffs) != n:
        raise ValueError("remotes and xffs must have the same length")
    import numpy
    hashes = numpy.zeros(n, numpy.uint64)
    has = numpy.zeros(n, numpy.bool_)
    hp = <uint64_t *>writable(hashes, &hv)
    try:
        sp = writable(has, &sv)
        try:
            for i in range(n):
                ip = None
                if not remote:
                    ip = _xff_ip(<list?>xffs[i], skip)
                elif skip:
                    ip = _xff_ip(<list?>xffs[i], skip - 1)
                if ip is None:
                    ip = _connection_ip(remotes[i])
                if ip is not None:
                    hp[i] = hlb_xxh64(PyBytes_AS_STRING(<bytes>ip),
                                      <size_t>PyBytes_GET_SIZE(<bytes>ip), s)
                    sp[i] = 1
        finally:
            PyBuffer_Release(&sv)
    finally:
        PyBuffer_Release(&hv)
    return hashes, has
