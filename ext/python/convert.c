/* convert.c - cJSON trees to Python objects, built in one pass.
 *
 * JSON objects become instances of kimi's model classes (attribute access,
 * unknown fields kept) or plain dicts; keys come from a small cache of
 * interned strings.  Invalid UTF-8 from the server decodes to U+FFFD.
 */
#include "binding.h"

#include <math.h>
#include <string.h>

#include "json.h"

/* Integers are exact in a double up to 2**53. */
#define KIMI_MAX_EXACT_INT 9007199254740992.0

static PyObject *convert(struct module_state *st, const cJSON *node,
                         PyObject *cls, int depth);

static size_t
key_hash(const char *s, size_t len)
{
    size_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    }
    return h;
}

/* New reference to the Python string for a JSON key. */
static PyObject *
key_string(struct module_state *st, const char *key)
{
    size_t len = strlen(key);
    if (len >= KIMI_KEY_CACHE_LEN) {
        return PyUnicode_DecodeUTF8(key, (Py_ssize_t)len, "replace");
    }
    struct kimi_key_entry *e = &st->keys[key_hash(key, len)
                                         % KIMI_KEY_CACHE_SIZE];
    if (e->str != NULL && e->len == len && memcmp(e->text, key, len) == 0) {
        return Py_NewRef(e->str);
    }
    PyObject *str = PyUnicode_DecodeUTF8(key, (Py_ssize_t)len, "replace");
    if (str == NULL) {
        return NULL;
    }
    PyUnicode_InternInPlace(&str);
    Py_XSETREF(e->str, Py_NewRef(str));
    e->len = len;
    memcpy(e->text, key, len);
    return str;
}

void
kimi_convert_clear_caches(struct module_state *st)
{
    for (size_t i = 0; i < KIMI_KEY_CACHE_SIZE; i++) {
        Py_CLEAR(st->keys[i].str);
        st->keys[i].len = 0;
    }
    for (size_t i = 0; i < KIMI_NESTED_CACHE_SIZE; i++) {
        Py_CLEAR(st->nested[i].cls);
        Py_CLEAR(st->nested[i].nested);
    }
}

/* cls._nested as a dict (new reference), or NULL with no exception when
 * the class has none.  The first KIMI_NESTED_CACHE_SIZE classes seen are
 * remembered; a class's _nested is read once (mutating the dict in place
 * is seen, rebinding the attribute is not). */
static PyObject *
nested_map(struct module_state *st, PyObject *cls)
{
    size_t i = 0;
    for (; i < KIMI_NESTED_CACHE_SIZE && st->nested[i].cls != NULL; i++) {
        if (st->nested[i].cls == cls) {
            PyObject *nested = st->nested[i].nested;
            return nested == Py_None ? NULL : Py_NewRef(nested);
        }
    }
    PyObject *nested = PyObject_GetAttr(cls, st->str_nested);
    if (nested == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return NULL;
        }
        PyErr_Clear();
    }
    else if (!PyDict_Check(nested)) {
        Py_CLEAR(nested);
    }
    if (i < KIMI_NESTED_CACHE_SIZE) {
        st->nested[i].cls = Py_NewRef(cls);
        st->nested[i].nested = nested != NULL ? Py_NewRef(nested)
                                              : Py_NewRef(Py_None);
    }
    return nested;
}

static PyObject *
convert_number(const cJSON *node)
{
    double v = node->valuedouble;
    if (v == floor(v) && fabs(v) < KIMI_MAX_EXACT_INT) {
        return PyLong_FromLongLong((long long)v);
    }
    return PyFloat_FromDouble(v);
}

/* The class for member `key` of an object of class cls: from cls._nested,
 * or NULL for the generic model class.  Borrowed reference. */
static PyObject *
member_class(PyObject *cls, PyObject *key, PyObject *nested)
{
    if (cls == (PyObject *)&PyDict_Type) {
        return cls;
    }
    if (nested == NULL) {
        return NULL;
    }
    return PyDict_GetItemWithError(nested, key);
}

/* A new instance of cls, without calling __init__. */
static PyObject *
make_instance(struct module_state *st, PyObject *cls)
{
    if (!PyType_Check(cls) || ((PyTypeObject *)cls)->tp_new == NULL) {
        PyErr_Format(PyExc_TypeError,
                     "convert: %R is not an instantiable class", cls);
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    return type->tp_new(type, st->empty_tuple, NULL);
}

/* An object node as a dict, or as an instance of cls whose __dict__ is
 * filled in place (replacing __dict__ would bypass the inline attribute
 * values of Python 3.13+). */
static PyObject *
convert_object(struct module_state *st, const cJSON *node, PyObject *cls,
               int depth)
{
    PyObject *dict = NULL;      /* the dict to fill (new reference) */
    PyObject *nested = NULL;    /* new reference */
    PyObject *result = NULL;

    if (cls == NULL || cls == Py_None) {
        cls = st->object_class;
    }
    if (cls == (PyObject *)&PyDict_Type) {
        result = PyDict_New();
        dict = Py_XNewRef(result);
    }
    else {
        nested = nested_map(st, cls);
        if (nested == NULL && PyErr_Occurred()) {
            goto error;
        }
        result = make_instance(st, cls);
        dict = result != NULL ? PyObject_GenericGetDict(result, NULL) : NULL;
    }
    if (dict == NULL) {
        goto error;
    }
    for (const cJSON *child = node->child; child != NULL;
         child = child->next) {
        PyObject *key = key_string(st, child->string ? child->string : "");
        if (key == NULL) {
            goto error;
        }
        /* New reference: building the value may run Python code. */
        PyObject *child_cls = Py_XNewRef(member_class(cls, key, nested));
        if (child_cls == NULL && PyErr_Occurred()) {
            Py_DECREF(key);
            goto error;
        }
        PyObject *value = convert(st, child, child_cls, depth + 1);
        Py_XDECREF(child_cls);
        if (value == NULL) {
            Py_DECREF(key);
            goto error;
        }
        int rc = PyDict_SetItem(dict, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc < 0) {
            goto error;
        }
    }
    Py_XDECREF(nested);
    Py_DECREF(dict);
    return result;
error:
    Py_XDECREF(nested);
    Py_XDECREF(dict);
    Py_XDECREF(result);
    return NULL;
}

static PyObject *
convert_array(struct module_state *st, const cJSON *node, PyObject *cls,
              int depth)
{
    Py_ssize_t n = (Py_ssize_t)cJSON_GetArraySize(node);
    PyObject *list = PyList_New(n);
    if (list == NULL) {
        return NULL;
    }
    Py_ssize_t i = 0;
    for (const cJSON *child = node->child; child != NULL && i < n;
         child = child->next, i++) {
        PyObject *value = convert(st, child, cls, depth + 1);
        if (value == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, value);    /* steals value */
    }
    return list;
}

/* The depth is counted here rather than by Py_EnterRecursiveCall: the
 * interpreter's own limit would turn a deep reply into RecursionError, and
 * objects deeper than KIMI_MAX_DEPTH could not be printed, compared or
 * pickled by Python code afterwards anyway. */
static PyObject *
convert(struct module_state *st, const cJSON *node, PyObject *cls, int depth)
{
    if (depth > KIMI_MAX_DEPTH
        && (cJSON_IsObject(node) || cJSON_IsArray(node))) {
        PyErr_Format(PyExc_ValueError,
                     "JSON nested deeper than %d levels", KIMI_MAX_DEPTH);
        return NULL;
    }
    switch (node->type & 0xFF) {
    case cJSON_String: {
        const char *s = node->valuestring ? node->valuestring : "";
        return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
    }
    case cJSON_Object:
        return convert_object(st, node, cls, depth);
    case cJSON_Array:
        return convert_array(st, node, cls, depth);
    case cJSON_Number:
        return convert_number(node);
    case cJSON_True:
        Py_RETURN_TRUE;
    case cJSON_False:
        Py_RETURN_FALSE;
    default:
        Py_RETURN_NONE;
    }
}

PyObject *
kimi_convert(struct module_state *st, const cJSON *node, PyObject *cls)
{
    return convert(st, node, cls, 1);
}

PyObject *
kimi_convert_or_text(struct module_state *st, const cJSON *node)
{
    PyObject *value = kimi_convert(st, node, (PyObject *)&PyDict_Type);
    if (value != NULL || !PyErr_ExceptionMatches(PyExc_ValueError)) {
        return value;
    }
    PyErr_Clear();
    char *text = cJSON_PrintUnformatted(node);
    if (text == NULL) {
        return PyErr_NoMemory();
    }
    value = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
    cJSON_free(text);
    return value;
}

/* parse(data, cls): one JSON document (bytes) built as the replies are,
 * objects as cls and its nested classes: for the JSON that arrives
 * inside other content (the lines of a batch's output file).  ValueError
 * when it is not JSON or nested too deep. */
PyObject *
kpy_parse(PyObject *module, PyObject *args)
{
    struct module_state *st = PyModule_GetState(module);
    const char *raw;
    Py_ssize_t len;
    PyObject *cls;
    if (!PyArg_ParseTuple(args, "y#O:parse", &raw, &len, &cls)) {
        return NULL;
    }
    struct kimi_error err = {0};
    cJSON *json = NULL;
    if (kimi_json_parse(raw, (size_t)len, &json, &err) != KIMI_OK) {
        if (err.status == KIMI_ENOMEM) {
            return PyErr_NoMemory();
        }
        PyErr_Format(PyExc_ValueError, "parse: %s", err.message);
        return NULL;
    }
    PyObject *obj = kimi_convert(st, json, cls);
    cJSON_Delete(json);
    return obj;
}
