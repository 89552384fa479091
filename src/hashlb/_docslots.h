/* hashlb: give a compiled object the docstring kept in a shared ``_*_doc.py``.
 *
 * A twin's public docstrings are written once, in a plain module both twins
 * import (``_docstrings.py`` explains the scheme).  Python objects take them
 * through ``__doc__``; the compiled objects whose docstring is a C string
 * in a static table take them here: a static type's tp_doc, a method or
 * class-method descriptor's ml_doc, a property's (getset) doc, a builtin
 * function's ml_doc.  CPython reads these strings on every
 * ``__doc__`` and ``__text_signature__``, so a leading ``name(...)\n--\n\n``
 * line still gives the signature.
 *
 * *doc* is a bytes object: when a C table is pointed into it, it gets a
 * reference of its own that is never released (the tables live as long as
 * the process, past the module's dict; NumPy's add_docstring does the
 * same).  Call at module import only, before any other thread can read the
 * docstring.
 */
#ifndef HASHLB_DOCSLOTS_H
#define HASHLB_DOCSLOTS_H

#include <Python.h>

static int hlb_point_static_doc(PyObject *obj, const char *doc);

/* 1 if obj's docstring is a static C string and now points into the bytes
 * object doc (kept alive for good), 0 if obj takes ``__doc__`` by
 * assignment (a Python object or a Cython function) and nothing was
 * changed. */
static int hlb_set_static_doc(PyObject *obj, PyObject *doc) {
    if (!PyBytes_CheckExact(doc) || !hlb_point_static_doc(obj, PyBytes_AS_STRING(doc)))
        return 0;
    Py_INCREF(doc); /* never released: the C table points into it */
    return 1;
}

static int hlb_point_static_doc(PyObject *obj, const char *doc) {
    if (PyType_Check(obj)) {
        PyTypeObject *t = (PyTypeObject *)obj;
        if (t->tp_flags & Py_TPFLAGS_HEAPTYPE) return 0;
        t->tp_doc = doc;
        PyType_Modified(t);
        return 1;
    }
    if (Py_IS_TYPE(obj, &PyMethodDescr_Type) || Py_IS_TYPE(obj, &PyClassMethodDescr_Type)) {
        ((PyMethodDescrObject *)obj)->d_method->ml_doc = doc;
        return 1;
    }
    if (Py_IS_TYPE(obj, &PyGetSetDescr_Type)) {
        ((PyGetSetDescrObject *)obj)->d_getset->doc = doc;
        return 1;
    }
    if (Py_IS_TYPE(obj, &PyCFunction_Type)) {
        ((PyCFunctionObject *)obj)->m_ml->ml_doc = doc;
        return 1;
    }
    return 0;
}

#endif /* HASHLB_DOCSLOTS_H */
