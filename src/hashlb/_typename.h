/* hashlb: give a compiled (static) type the public name users import it by.
 *
 * A static type's ``__module__`` and ``__qualname__`` come from its tp_name
 * (``"hashlb._maglev_c.Maglev"``), which ``help()``, ``repr()`` and pickle
 * read.  The dispatchers point tp_name at the public dotted name
 * (``"hashlb.Maglev"``) when they select the compiled twin, so
 * ``help(hashlb.Maglev)`` names the module users import, and a pickle names
 * the class they import.  A heap type takes ``__module__`` by assignment
 * instead; nothing is done for it here.
 *
 * *name* is a bytes object; tp_name points into it, and it gets a reference
 * of its own that is never released (a static type lives as long as the
 * process).  Call at import only, before any other thread can read the name.
 */
#ifndef HASHLB_TYPENAME_H
#define HASHLB_TYPENAME_H

#include <Python.h>

/* 1 if *type* is a static type, now named *name* (kept alive for good); 0 if
 * it is not a static type or *name* is not bytes, and nothing was changed. */
static inline int hlb_set_type_name(PyObject *type, PyObject *name) {
    if (!PyType_Check(type) || !PyBytes_CheckExact(name)) return 0;
    PyTypeObject *t = (PyTypeObject *)type;
    if (t->tp_flags & Py_TPFLAGS_HEAPTYPE) return 0;
    Py_INCREF(name); /* never released: tp_name points into it */
    t->tp_name = PyBytes_AS_STRING(name);
    PyType_Modified(t);
    return 1;
}

#endif /* HASHLB_TYPENAME_H */
