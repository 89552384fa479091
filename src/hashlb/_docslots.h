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
 * The caller keeps *doc* (the bytes' buffer) alive for the life of the
 * process: the C tables point into it.  Call at module import only, before
 * any other thread can read the docstring.
 */
#ifndef HASHLB_DOCSLOTS_H
#define HASHLB_DOCSLOTS_H

#include <Python.h>

/* 1 if obj's docstring is a static C string and now points to doc,
 * 0 if obj takes ``__doc__`` by assignment (a Python object or a Cython
 * function) and nothing was changed. */
static int hlb_set_static_doc(PyObject *obj, const char *doc) {
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
