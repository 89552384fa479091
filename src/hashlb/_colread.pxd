# cython: language_level=3
"""The compiled columnar drivers (``_colread``): read the chunks of ``hashlb._columns`` in C.

``hashlb._columns`` (plain Python, shared with the pure twins) says what a
column is and describes it as chunks of buffers; here every chunk is opened
(:func:`col_open`: the buffers through the buffer protocol, so the sizes are
the real ones), checked by ``hlb_col_check`` (``_arrow.h``) and then hashed
(:func:`hash_chunks`), hashed and looked up in ``BATCH_CHUNK`` rows at a
time or looked up in place (:func:`index_chunks`, :func:`index_column`),
all with the GIL released.  Every function is ``cdef inline``, compiled into
each module that cimports it (``_hashing_c``, ``_maglev_c``, ``_ring_c``).
"""
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memset

from hashlb._tables cimport BATCH_CHUNK, batch_fn, hash_key


cdef extern from "_arrow.h" nogil:
    enum:
        HLB_COL_NULL
        HLB_COL_UCS4
        HLB_COL_U64
        HLB_COL_I64
    ctypedef struct hlb_col:
        int kind
        int64_t length
        int64_t offset
        const uint8_t *validity
        int64_t validity_size
        const uint8_t *values
        int64_t values_size
        const uint8_t *data
        int64_t data_size
        int64_t n_vbufs
        const uint8_t *const *vbufs
        const int64_t *vbuf_sizes
        int64_t width
    int hlb_col_check(const hlb_col *c, int64_t *at)
    int64_t hlb_col_hash(const hlb_col *c, int64_t start, int64_t count, uint64_t seed,
                         uint64_t *out, uint8_t *isnull, uint8_t *scratch, int *err)
    const uint64_t *hlb_col_u64(const hlb_col *c, int64_t start, int64_t count, uint64_t *tmp)
    void hlb_col_mark_nulls(const hlb_col *c, int64_t start, int64_t count, uint32_t *out,
                            uint32_t none)
    uint32_t NO_HOST "HLB_NO_HOST"  # the host index of a null row (hashlb._columns.NO_HOST)
    uint8_t *_EMPTY "hlb_col_empty"  # where an empty buffer points (never NULL)


# One opened chunk: the hlb_col and the buffers it points into (held until col_close).
cdef struct col_hold:
    hlb_col c
    Py_buffer *views      # n_views buffers, released by col_close
    int n_views
    const uint8_t **vbufs
    int64_t *vbuf_sizes
    uint8_t *scratch      # UCS4: one item's UTF-8 (width + 8 bytes)


cdef inline int _take(col_hold *h, object buf, const uint8_t **ptr, int64_t *size) except -1:
    """Point *ptr*/*size* at the bytes of *buf* (None: no bytes), holding its buffer in *h*."""
    if buf is None:
        ptr[0] = _EMPTY
        size[0] = 0
        return 0
    PyObject_GetBuffer(buf, &h.views[h.n_views], PyBUF_SIMPLE)
    h.n_views += 1
    ptr[0] = <const uint8_t *>h.views[h.n_views - 1].buf if h.views[h.n_views - 1].len else _EMPTY
    size[0] = h.views[h.n_views - 1].len
    return 0


cdef inline void col_close(col_hold *h) noexcept:
    cdef int i
    for i in range(h.n_views):
        PyBuffer_Release(&h.views[i])
    h.n_views = 0
    PyMem_Free(h.views)
    PyMem_Free(h.vbufs)
    PyMem_Free(h.vbuf_sizes)
    PyMem_Free(h.scratch)
    h.views = NULL
    h.vbufs = NULL
    h.vbuf_sizes = NULL
    h.scratch = NULL


cdef inline int col_open(col_hold *h, tuple chunk, Py_ssize_t base) except -1:
    """Open and check one chunk of ``hashlb._columns``; *base*: its first row in the column.

    On error everything is released; on success the caller calls col_close.
    """
    cdef int64_t at = 0, dummy = 0
    cdef int code
    cdef Py_ssize_t k
    cdef const uint8_t *ignored = NULL
    cdef tuple vbufs = chunk[6]
    cdef Py_ssize_t nv = len(vbufs)
    memset(h, 0, sizeof(col_hold))
    h.views = <Py_buffer *>PyMem_Malloc(sizeof(Py_buffer) * <size_t>(nv + 3))
    h.vbufs = <const uint8_t **>PyMem_Malloc(sizeof(uint8_t *) * <size_t>(nv + 1))
    h.vbuf_sizes = <int64_t *>PyMem_Malloc(sizeof(int64_t) * <size_t>(nv + 1))
    if h.views == NULL or h.vbufs == NULL or h.vbuf_sizes == NULL:
        col_close(h)
        raise MemoryError()
    try:
        h.c.kind = chunk[0]
        h.c.length = chunk[1]
        h.c.offset = chunk[2]
        if chunk[3] is not None:
            _take(h, chunk[3], &h.c.validity, &h.c.validity_size)
        _take(h, chunk[4], &h.c.values, &h.c.values_size)
        _take(h, chunk[5], &h.c.data, &h.c.data_size)
        for k in range(nv):
            _take(h, vbufs[k], &h.vbufs[k], &h.vbuf_sizes[k])
        h.c.n_vbufs = nv
        h.c.vbufs = h.vbufs
        h.c.vbuf_sizes = h.vbuf_sizes
        h.c.width = chunk[7]
        with nogil:
            code = hlb_col_check(&h.c, &at)
        if code != 0:
            from hashlb._columns import column_error
            raise column_error(code, base + at)
        if h.c.kind == HLB_COL_UCS4:
            h.scratch = <uint8_t *>PyMem_Malloc(<size_t>h.c.width + 8)
            if h.scratch == NULL:
                raise MemoryError()
    except BaseException:
        col_close(h)
        raise
    return 0


cdef inline int _bad_row(tuple chunk, int64_t row, int err, Py_ssize_t base) except -1:
    """Raise for the row hlb_col_hash refused: a view outside its buffer (*err*), or a
    numpy U key with no UTF-8 (what ``pick`` raises for it)."""
    from hashlb._columns import column_error, ucs4_error
    if err != 0:
        raise column_error(err, base + row)
    bad = ucs4_error(chunk, row, base)
    if bad is not None:
        raise bad
    hash_key(chunk[8][chunk[2] + row])  # a surrogate: what xxh64 of the item raises
    raise ValueError(f"keys[{base + row}] has no UTF-8 encoding")  # not reached


cdef inline int _run_chunks(list chunks, uint64_t seed, uint64_t *hashes, uint8_t *isnull,
                            uint32_t *out, const void *table, batch_fn fn, bint searching,
                            bint keys) except -1:
    """The one loop over opened chunks, ``BATCH_CHUNK`` rows at a time, GIL released.

    With *hashes* (:func:`hash_chunks`): xxh64 (*seed*) of every key row into
    *hashes*, nulls 0 there and 1 in *isnull* (unless NULL).  Else
    (:func:`index_chunks`): the host index of every row into *out*, keys
    (*keys*) hashed first, hashes (not *keys*) looked up in place; nulls and
    an empty table (not *searching*) give NO_HOST.  Every chunk is checked
    (and keys hashed) either way, so a bad column raises the same error
    wherever it is passed.
    """
    cdef col_hold h
    cdef Py_ssize_t base = 0
    cdef int64_t start, count, bad = -1, i
    cdef int err = 0
    cdef uint64_t hs[BATCH_CHUNK]
    cdef uint64_t *dst = hs
    cdef const uint64_t *batch = hs
    for chunk in chunks:
        col_open(&h, chunk, base)
        try:
            with nogil:
                start = 0
                while start < h.c.length:
                    count = h.c.length - start
                    if count > BATCH_CHUNK:
                        count = BATCH_CHUNK
                    if keys:
                        if hashes != NULL:
                            dst = hashes + base + start
                        bad = hlb_col_hash(&h.c, start, count, seed, dst,
                                           NULL if isnull == NULL else isnull + base + start,
                                           h.scratch, &err)
                        if bad >= 0:
                            break
                    if hashes != NULL:
                        pass
                    elif not searching or h.c.kind == HLB_COL_NULL:
                        for i in range(count):
                            out[base + start + i] = NO_HOST
                    else:
                        if not keys:
                            batch = hlb_col_u64(&h.c, start, count, hs)
                        fn(table, batch, out + base + start, <size_t>count)
                        hlb_col_mark_nulls(&h.c, start, count, out + base + start, NO_HOST)
                    start += count
            if bad >= 0:
                _bad_row(chunk, bad, err, base)
        finally:
            col_close(&h)
        base += chunk[1]
    return 0


cdef inline int hash_chunks(list chunks, uint64_t seed, uint64_t *out, uint8_t *isnull) except -1:
    """xxh64 of every row of *chunks* into *out*; nulls: 0 in *out*, 1 in *isnull*.

    *isnull* may be NULL when no chunk has a null (``_columns.null_mask``).
    """
    return _run_chunks(chunks, seed, out, isnull, NULL, NULL, NULL, False, True)


cdef inline int index_chunks(list chunks, uint32_t *out, const void *table, batch_fn fn,
                             bint searching, bint keys) except -1:
    """The host index of every row of *chunks* into *out* (nulls and no table: NO_HOST).

    *keys*: key chunks, hashed ``BATCH_CHUNK`` rows at a time and looked up
    (``pick_many``); else hash chunks, looked up in place (``lookup_many``).
    Without *searching* (an empty table) the chunks are still checked (and
    keys hashed), so a bad column raises the same error on every table.
    """
    return _run_chunks(chunks, 0, NULL, NULL, out, table, fn, searching, keys)


cdef inline uint8_t *writable(object arr, Py_buffer *view) except NULL:
    """The bytes of a writable numpy array (checked by ``_columns.output``), held in *view*."""
    PyObject_GetBuffer(arr, view, PyBUF_WRITABLE)
    return <uint8_t *>view.buf if view.len else _EMPTY


cdef inline object index_column(list chunks, object out, const void *table, batch_fn fn,
                                bint searching, bint keys):
    """``pick_many`` (*keys*) or ``lookup_many`` of *chunks*: a numpy uint32 array.

    *out* when given.  An empty table (not *searching*) gives no rows, or
    *out* all ``NO_HOST`` (the batch contract of ``hashlb._batch.batch_output``);
    the chunks are still checked (and keys hashed).
    """
    cdef Py_buffer dst
    from hashlb._columns import output, rows
    res = output(rows(chunks), out, "uint32")
    cdef uint32_t *p = <uint32_t *>writable(res, &dst)
    try:
        index_chunks(chunks, p, table, fn, searching, keys)
    finally:
        PyBuffer_Release(&dst)
    return res if searching or out is not None else res[:0].copy()
