/* module.c - kimi._core: module state, multi-phase init, and the lookup of
 * kimi's exception and model classes so C raises and builds the same types
 * as Python.  libcurl is initialised once per process here.
 */
#include "binding.h"

#include <curl/curl.h>

#include "dialect.h"
#include "retry.h"

/* The binding's types are not subclassable, so a type's own module is
 * the right one (PyType_GetModuleState exists since 3.9). */
struct module_state *
kimi_state_of_type(PyTypeObject *type)
{
    return (struct module_state *)PyType_GetModuleState(type);
}

static int
get_attr(PyObject *module, const char *name, PyObject **out)
{
    *out = PyObject_GetAttrString(module, name);
    return *out == NULL ? -1 : 0;
}

static int
core_exec(PyObject *module)
{
    struct module_state *st = PyModule_GetState(module);
    PyObject *exceptions = NULL;
    PyObject *models = NULL;
    struct kimi_error err = {0};
    int rc = -1;

    if (kimi_pool_global_init(&err) != KIMI_OK) {
        PyErr_SetString(PyExc_ImportError, err.message);
        return -1;
    }
    exceptions = PyImport_ImportModule("kimi._exceptions");
    models = PyImport_ImportModule("kimi._models");
    if (exceptions == NULL || models == NULL) {
        goto done;
    }
    if (get_attr(exceptions, "APIConnectionError",
                 &st->APIConnectionError) < 0
        || get_attr(exceptions, "APITimeoutError", &st->APITimeoutError) < 0
        || get_attr(exceptions, "CertificateError",
                    &st->CertificateError) < 0
        || get_attr(exceptions, "APIResponseValidationError",
                    &st->APIResponseValidationError) < 0
        || get_attr(exceptions, "StreamError", &st->StreamError) < 0
        || get_attr(exceptions, "LimitExceededError",
                    &st->LimitExceededError) < 0
        || get_attr(exceptions, "APIStatusError", &st->APIStatusError) < 0
        || get_attr(exceptions, "BadRequestError", &st->BadRequestError) < 0
        || get_attr(exceptions, "AuthenticationError",
                    &st->AuthenticationError) < 0
        || get_attr(exceptions, "PermissionDeniedError",
                    &st->PermissionDeniedError) < 0
        || get_attr(exceptions, "NotFoundError", &st->NotFoundError) < 0
        || get_attr(exceptions, "RateLimitError", &st->RateLimitError) < 0
        || get_attr(exceptions, "InternalServerError",
                    &st->InternalServerError) < 0
        || get_attr(exceptions, "ConflictError", &st->ConflictError) < 0
        || get_attr(exceptions, "UnprocessableEntityError", &st->UnprocessableEntityError) < 0
        || get_attr(exceptions, "InvalidRequestError", &st->InvalidRequestError) < 0
        || get_attr(exceptions, "ContentFilterError", &st->ContentFilterError) < 0
        || get_attr(exceptions, "ResourceNotFoundError", &st->ResourceNotFoundError) < 0
        || get_attr(exceptions, "ModelNotFoundError", &st->ModelNotFoundError) < 0
        || get_attr(exceptions, "EngineOverloadedError", &st->EngineOverloadedError) < 0
        || get_attr(exceptions, "RateLimitReachedError", &st->RateLimitReachedError) < 0
        || get_attr(exceptions, "QuotaExceededError", &st->QuotaExceededError) < 0
        || get_attr(exceptions, "ServerError", &st->ServerError) < 0
        || get_attr(models, "KimiObject", &st->object_class) < 0) {
        goto done;
    }
    st->str_nested = PyUnicode_InternFromString("_nested");
    st->str_set_result = PyUnicode_InternFromString("set_result");
    st->str_response = PyUnicode_InternFromString("_response");
    st->empty_tuple = PyTuple_New(0);
    if (st->str_nested == NULL || st->str_set_result == NULL
        || st->str_response == NULL || st->empty_tuple == NULL) {
        goto done;
    }
    st->pending = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    if (st->pending == NULL
        || PyModule_AddObjectRef(module, "PENDING", st->pending) < 0) {
        goto done;
    }
    st->client_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &kimi_client_spec, NULL);
    st->reactor_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &kimi_reactor_spec, NULL);
    st->aexchange_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &kimi_aexchange_spec, NULL);
    st->runner_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &kimi_runner_spec, NULL);
    st->stream_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &kimi_stream_spec, NULL);
    st->request_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &kimi_request_spec, NULL);
    st->limiter_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &kimi_limiter_spec, NULL);
    st->meter_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &kimi_meter_spec, NULL);
    if (st->client_type == NULL || st->stream_type == NULL
        || st->request_type == NULL || st->limiter_type == NULL
        || st->meter_type == NULL
        || st->reactor_type == NULL || st->aexchange_type == NULL
        || st->runner_type == NULL) {
        goto done;
    }
    if (PyModule_AddType(module, st->client_type) < 0
        || PyModule_AddType(module, st->reactor_type) < 0
        || PyModule_AddType(module, st->aexchange_type) < 0
        || PyModule_AddType(module, st->runner_type) < 0
        || PyModule_AddType(module, st->stream_type) < 0
        || PyModule_AddType(module, st->request_type) < 0
        || PyModule_AddType(module, st->limiter_type) < 0
        || PyModule_AddType(module, st->meter_type) < 0) {
        goto done;
    }
    curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
    if (PyModule_AddStringConstant(module, "curl_version", info->version) < 0
        || PyModule_AddStringConstant(module, "cjson_version",
                                      cJSON_Version()) < 0
        || PyModule_AddIntConstant(module, "MAX_EVENT_DEFAULT",
                                   (long)KIMI_MAX_EVENT_DEFAULT) < 0
        || PyModule_AddIntConstant(module, "MAX_BODY_DEFAULT",
                                   (long)KIMI_MAX_BODY_DEFAULT) < 0
        || PyModule_AddIntConstant(module, "OUTCOME_NO_RESPONSE",
                                   KIMI_OUTCOME_NO_RESPONSE) < 0
        || PyModule_AddIntConstant(module, "OUTCOME_CERTIFICATE",
                                   KIMI_OUTCOME_CERTIFICATE) < 0
        || PyModule_AddIntConstant(module, "OUTCOME_REJECTED",
                                   KIMI_OUTCOME_REJECTED) < 0
        || PyModule_AddIntConstant(module, "OUTCOME_STATUS",
                                   KIMI_OUTCOME_STATUS) < 0
        || PyModule_AddIntConstant(module, "DIALECT_REASONING",
                                   KIMI_DIALECT_REASONING) < 0
        || PyModule_AddIntConstant(module, "DIALECT_ENVELOPE",
                                   KIMI_DIALECT_ENVELOPE) < 0
        || PyModule_AddIntConstant(module, "DIALECT_CF_CODES",
                                   KIMI_DIALECT_CF_CODES) < 0) {
        goto done;
    }
    rc = 0;
done:
    Py_XDECREF(exceptions);
    Py_XDECREF(models);
    return rc;
}

static int
core_traverse(PyObject *module, visitproc visit, void *arg)
{
    struct module_state *st = PyModule_GetState(module);
    Py_VISIT(st->client_type);
    Py_VISIT(st->reactor_type);
    Py_VISIT(st->aexchange_type);
    Py_VISIT(st->runner_type);
    Py_VISIT(st->pending);
    Py_VISIT(st->stream_type);
    Py_VISIT(st->request_type);
    Py_VISIT(st->limiter_type);
    Py_VISIT(st->meter_type);
    Py_VISIT(st->APIConnectionError);
    Py_VISIT(st->APITimeoutError);
    Py_VISIT(st->CertificateError);
    Py_VISIT(st->APIResponseValidationError);
    Py_VISIT(st->StreamError);
    Py_VISIT(st->LimitExceededError);
    Py_VISIT(st->APIStatusError);
    Py_VISIT(st->BadRequestError);
    Py_VISIT(st->AuthenticationError);
    Py_VISIT(st->PermissionDeniedError);
    Py_VISIT(st->NotFoundError);
    Py_VISIT(st->RateLimitError);
    Py_VISIT(st->InternalServerError);
    Py_VISIT(st->ConflictError);
    Py_VISIT(st->UnprocessableEntityError);
    Py_VISIT(st->InvalidRequestError);
    Py_VISIT(st->ContentFilterError);
    Py_VISIT(st->ResourceNotFoundError);
    Py_VISIT(st->ModelNotFoundError);
    Py_VISIT(st->EngineOverloadedError);
    Py_VISIT(st->RateLimitReachedError);
    Py_VISIT(st->QuotaExceededError);
    Py_VISIT(st->ServerError);
    Py_VISIT(st->object_class);
    for (size_t i = 0; i < KIMI_NESTED_CACHE_SIZE; i++) {
        Py_VISIT(st->nested[i].cls);
        Py_VISIT(st->nested[i].nested);
    }
    return 0;
}

static int
core_clear(PyObject *module)
{
    struct module_state *st = PyModule_GetState(module);
    Py_CLEAR(st->client_type);
    Py_CLEAR(st->reactor_type);
    Py_CLEAR(st->aexchange_type);
    Py_CLEAR(st->runner_type);
    Py_CLEAR(st->pending);
    Py_CLEAR(st->stream_type);
    Py_CLEAR(st->request_type);
    Py_CLEAR(st->limiter_type);
    Py_CLEAR(st->meter_type);
    Py_CLEAR(st->APIConnectionError);
    Py_CLEAR(st->APITimeoutError);
    Py_CLEAR(st->CertificateError);
    Py_CLEAR(st->APIResponseValidationError);
    Py_CLEAR(st->StreamError);
    Py_CLEAR(st->LimitExceededError);
    Py_CLEAR(st->APIStatusError);
    Py_CLEAR(st->BadRequestError);
    Py_CLEAR(st->AuthenticationError);
    Py_CLEAR(st->PermissionDeniedError);
    Py_CLEAR(st->NotFoundError);
    Py_CLEAR(st->RateLimitError);
    Py_CLEAR(st->InternalServerError);
    Py_CLEAR(st->ConflictError);
    Py_CLEAR(st->UnprocessableEntityError);
    Py_CLEAR(st->InvalidRequestError);
    Py_CLEAR(st->ContentFilterError);
    Py_CLEAR(st->ResourceNotFoundError);
    Py_CLEAR(st->ModelNotFoundError);
    Py_CLEAR(st->EngineOverloadedError);
    Py_CLEAR(st->RateLimitReachedError);
    Py_CLEAR(st->QuotaExceededError);
    Py_CLEAR(st->ServerError);
    Py_CLEAR(st->object_class);
    Py_CLEAR(st->str_nested);
    Py_CLEAR(st->str_set_result);
    Py_CLEAR(st->str_response);
    Py_CLEAR(st->empty_tuple);
    kimi_convert_clear_caches(st);
    return 0;
}

static void
core_free(void *module)
{
    core_clear((PyObject *)module);
}

static PyMethodDef core_functions[] = {
    {"retry_delay", (PyCFunction)(void (*)(void))kpy_retry_delay,
     METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("retry_delay(outcome, status, type, code, retry_after, "
               "attempt, max_retries, jitter)\n"
               "Seconds to wait before the next attempt, or None to stop.")},
    {"parse", (PyCFunction)kpy_parse, METH_VARARGS,
     PyDoc_STR("parse(data, cls)\n"
               "One JSON document built as replies are, objects as cls.")},
    {"status_error", (PyCFunction)kpy_status_error, METH_VARARGS,
     PyDoc_STR("status_error(status, body)\n"
               "The APIStatusError a reply with this status and error body "
               "would raise.")},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
    {0, NULL},
};

static struct PyModuleDef kimi_core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kimi._core",
    .m_doc = "The C core of kimi: HTTP over libcurl, SSE, JSON over cJSON.",
    .m_size = sizeof(struct module_state),
    .m_methods = core_functions,
    .m_slots = core_slots,
    .m_traverse = core_traverse,
    .m_clear = core_clear,
    .m_free = core_free,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&kimi_core_module);
}
