# cython: language_level=3
"""The "not initialised" guard of every compiled class.

A compiled object made with ``cls.__new__(cls)``, or by a subclass whose
``__init__`` skips ``super().__init__()``, has its fields unset; each class
names what its ``__init__`` sets last and checks it through
:func:`check_ready` before using the object (a pure twin's unset slot raises
``AttributeError``, which it turns into the same ``TypeError``).
"""


cdef inline int check_ready(object obj, bint ready, str cls) except -1:
    """0 if *ready*; else raise the ``TypeError`` of a *cls* whose ``__init__`` never ran."""
    if ready:
        return 0
    return _not_ready(obj, cls)


cdef inline int _not_ready(object obj, str cls) except -1:
    # Out of line and cold: the message is built by the shared plain module.
    from hashlb._validate import uninitialised

    raise uninitialised(obj, cls)
