/* The request path of Gunicorn's own workers, compiled.

   Measured in a running server, the per-request cost of the exporter is its
   Python bytecode: some 150 instructions spread over the two hooks and the
   stores, each several times dearer than in a loop because the caches hold
   the server's and the kernel's work between two requests. Here the hooks
   Gunicorn calls are C methods and the stores plain C, so a request costs two
   calls from Gunicorn and a few dozen machine stores.

   ``request_metrics.RequestRecorder`` and ``instrument_gunicorn`` hold the
   same logic in Python and use it wherever this module did not compile; this
   file only handles the common case (a response the application returned,
   no exception, a status) and hands every other request to Python.

   Every store to a request cell happens here, under the GIL and without a
   Python call between the read and the write, so threads (gthread) never
   interleave inside an update and need no lock. A free-threaded Python has
   no GIL: there the updates are atomic compare-and-swap loops instead. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define MAX_BOUNDS 32

#if PY_VERSION_HEX < 0x030D0000
/* Python 3.13 made public what earlier versions call _PyObject_LookupAttr. */
#define PyObject_GetOptionalAttr _PyObject_LookupAttr
#endif

/* -- cells ---------------------------------------------------------------- */

/* The memory of a block's current ``cells`` memoryview (8-byte doubles).
   Returns a new reference to the view (kept while the pointer is used). */
static PyObject *
cells_of(PyObject *block, PyObject *cells_name, double **base, Py_ssize_t *count)
{
    PyObject *view = PyObject_GetAttr(block, cells_name);
    if (view == NULL) {
        return NULL;
    }
    if (!PyMemoryView_Check(view)) {
        Py_DECREF(view);
        PyErr_SetString(PyExc_TypeError, "block.cells must be a memoryview");
        return NULL;
    }
    Py_buffer *buffer = PyMemoryView_GET_BUFFER(view);
    if (buffer->itemsize != sizeof(double) || buffer->buf == NULL) {
        Py_DECREF(view);
        PyErr_SetString(PyExc_TypeError, "block.cells must be a view of doubles");
        return NULL;
    }
    *base = (double *)buffer->buf;
    *count = buffer->len / (Py_ssize_t)sizeof(double);
    return view;
}

static inline void
cell_add(double *cell, double amount)
{
#ifdef Py_GIL_DISABLED
    uint64_t old = __atomic_load_n((uint64_t *)cell, __ATOMIC_RELAXED);
    for (;;) {
        double value;
        uint64_t updated;
        memcpy(&value, &old, sizeof value);
        value += amount;
        memcpy(&updated, &value, sizeof updated);
        if (__atomic_compare_exchange_n((uint64_t *)cell, &old, updated, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            return;
        }
    }
#else
    /* Aligned 8-byte stores: the master, in another process, sees the old or the new value. */
    *cell += amount;
#endif
}

static double
monotonic_seconds(void)
{
    /* The clock of time.perf_counter() on Linux. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static int
read_bounds(PyObject *sequence, double *bounds, Py_ssize_t *count, const char *what)
{
    PyObject *items = PySequence_Fast(sequence, what);
    if (items == NULL) {
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    if (n < 1 || n > MAX_BOUNDS) {
        Py_DECREF(items);
        PyErr_Format(PyExc_ValueError, "%s: between 1 and %d bounds", what, MAX_BOUNDS);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        bounds[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(items, i));
        if (bounds[i] == -1.0 && PyErr_Occurred()) {
            Py_DECREF(items);
            return -1;
        }
    }
    Py_DECREF(items);
    *count = n;
    return 0;
}

static int
read_cells(PyObject *sequence, Py_ssize_t *cells, Py_ssize_t expected, const char *what)
{
    PyObject *items = PySequence_Fast(sequence, what);
    if (items == NULL) {
        return -1;
    }
    if (PySequence_Fast_GET_SIZE(items) != expected) {
        Py_DECREF(items);
        PyErr_Format(PyExc_ValueError, "%s: one cell per bound", what);
        return -1;
    }
    for (Py_ssize_t i = 0; i < expected; i++) {
        cells[i] = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(items, i));
        if (cells[i] < 0) {
            Py_DECREF(items);
            if (!PyErr_Occurred()) {
                PyErr_Format(PyExc_ValueError, "%s: negative cell", what);
            }
            return -1;
        }
    }
    Py_DECREF(items);
    return 0;
}

/* The bucket a value falls in: the first bound >= value (the last bound is +Inf). */
static inline Py_ssize_t
bucket_of(const double *bounds, Py_ssize_t count, double value)
{
    Py_ssize_t i = 0;
    while (i < count - 1 && value > bounds[i]) {
        i++;
    }
    return i;
}

/* -- Writer: the request cells of one slot -------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *block;
    PyObject *cells_name;
    Py_ssize_t busy;
    Py_ssize_t duration_count, size_count;
    double duration_bounds[MAX_BOUNDS], size_bounds[MAX_BOUNDS];
    Py_ssize_t request_buckets[MAX_BOUNDS], request_sum;
    Py_ssize_t response_buckets[MAX_BOUNDS], response_sum;
    Py_ssize_t highest; /* the highest fixed cell, checked against the block's size */
} Writer;

static PyTypeObject Writer_Type;

static int
Writer_init(Writer *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"block",           "busy_cell",       "duration_bounds", "size_bounds", "request_buckets",
                            "request_sum_cell", "response_buckets", "response_sum_cell", NULL};
    PyObject *block, *duration_bounds, *size_bounds, *request_buckets, *response_buckets;
    Py_ssize_t busy, request_sum, response_sum;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OnOOOnOn", names, &block, &busy, &duration_bounds, &size_bounds,
                                     &request_buckets, &request_sum, &response_buckets, &response_sum)) {
        return -1;
    }
    if (read_bounds(duration_bounds, self->duration_bounds, &self->duration_count, "duration_bounds") < 0 ||
        read_bounds(size_bounds, self->size_bounds, &self->size_count, "size_bounds") < 0 ||
        read_cells(request_buckets, self->request_buckets, self->size_count, "request_buckets") < 0 ||
        read_cells(response_buckets, self->response_buckets, self->size_count, "response_buckets") < 0) {
        return -1;
    }
    if (busy < 0 || request_sum < 0 || response_sum < 0) {
        PyErr_SetString(PyExc_ValueError, "negative cell");
        return -1;
    }
    self->busy = busy;
    self->request_sum = request_sum;
    self->response_sum = response_sum;
    Py_ssize_t highest = busy > request_sum ? busy : request_sum;
    highest = highest > response_sum ? highest : response_sum;
    for (Py_ssize_t i = 0; i < self->size_count; i++) {
        highest = highest > self->request_buckets[i] ? highest : self->request_buckets[i];
        highest = highest > self->response_buckets[i] ? highest : self->response_buckets[i];
    }
    self->highest = highest;
    Py_XSETREF(self->block, Py_NewRef(block));
    Py_XSETREF(self->cells_name, PyUnicode_InternFromString("cells"));
    return self->cells_name == NULL ? -1 : 0;
}

static void
Writer_dealloc(Writer *self)
{
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->block);
    Py_CLEAR(self->cells_name);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Writer_traverse(Writer *self, visitproc visit, void *arg)
{
    Py_VISIT(self->block);
    return 0;
}

static int
Writer_clear(Writer *self)
{
    Py_CLEAR(self->block);
    return 0;
}

/* The stores of one finished request. ``series`` is (duration bucket cells, duration sum cell). */
static int
store_request(Writer *self, PyObject *series, double duration, long long request_bytes, long long response_bytes,
              Py_ssize_t failed_cell)
{
    if (!PyTuple_Check(series) || PyTuple_GET_SIZE(series) != 2 || !PyTuple_Check(PyTuple_GET_ITEM(series, 0)) ||
        PyTuple_GET_SIZE(PyTuple_GET_ITEM(series, 0)) != self->duration_count) {
        PyErr_SetString(PyExc_TypeError, "series must be (duration bucket cells, duration sum cell)");
        return -1;
    }
    PyObject *buckets = PyTuple_GET_ITEM(series, 0);
    Py_ssize_t duration_bucket =
        PyLong_AsSsize_t(PyTuple_GET_ITEM(buckets, bucket_of(self->duration_bounds, self->duration_count, duration)));
    Py_ssize_t duration_sum = PyLong_AsSsize_t(PyTuple_GET_ITEM(series, 1));
    if ((duration_bucket == -1 || duration_sum == -1) && PyErr_Occurred()) {
        return -1;
    }
    double *cells;
    Py_ssize_t count;
    PyObject *view = cells_of(self->block, self->cells_name, &cells, &count);
    if (view == NULL) {
        return -1;
    }
    if (duration_bucket < 0 || duration_sum < 0 || duration_bucket >= count || duration_sum >= count ||
        self->highest >= count || failed_cell >= count) {
        Py_DECREF(view);
        PyErr_SetString(PyExc_IndexError, "cell outside the block");
        return -1;
    }
    /* No Python runs from here to the end: the updates are whole to every other thread. */
    cell_add(&cells[duration_bucket], 1.0);
    cell_add(&cells[duration_sum], duration);
    cell_add(&cells[self->request_buckets[bucket_of(self->size_bounds, self->size_count, (double)request_bytes)]], 1.0);
    if (request_bytes) {
        cell_add(&cells[self->request_sum], (double)request_bytes);
    }
    cell_add(&cells[self->response_buckets[bucket_of(self->size_bounds, self->size_count, (double)response_bytes)]],
             1.0);
    if (response_bytes) {
        cell_add(&cells[self->response_sum], (double)response_bytes);
    }
    if (failed_cell >= 0) {
        cell_add(&cells[failed_cell], 1.0);
    }
    cell_add(&cells[self->busy], -1.0);
    Py_DECREF(view);
    return 0;
}

static int
add_to_cell(Writer *self, Py_ssize_t cell, double amount)
{
    double *cells;
    Py_ssize_t count;
    PyObject *view = cells_of(self->block, self->cells_name, &cells, &count);
    if (view == NULL) {
        return -1;
    }
    if (cell < 0 || cell >= count) {
        Py_DECREF(view);
        PyErr_SetString(PyExc_IndexError, "cell outside the block");
        return -1;
    }
    cell_add(&cells[cell], amount);
    Py_DECREF(view);
    return 0;
}

static PyObject *
Writer_add(Writer *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "add(cell, amount)");
        return NULL;
    }
    Py_ssize_t cell = PyLong_AsSsize_t(args[0]);
    double amount = PyFloat_AsDouble(args[1]);
    if (PyErr_Occurred() || add_to_cell(self, cell, amount) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
as_bytes(PyObject *number, long long *out)
{
    *out = PyLong_AsLongLong(number);
    if (*out == -1 && PyErr_Occurred()) {
        return -1;
    }
    return 0;
}

static PyObject *
Writer_record(Writer *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "record(series, duration, request_bytes, response_bytes, failed_cell)");
        return NULL;
    }
    double duration = PyFloat_AsDouble(args[1]);
    long long request_bytes, response_bytes;
    Py_ssize_t failed_cell = -1;
    if ((duration == -1.0 && PyErr_Occurred()) || as_bytes(args[2], &request_bytes) < 0 ||
        as_bytes(args[3], &response_bytes) < 0) {
        return NULL;
    }
    if (args[4] != Py_None) {
        failed_cell = PyLong_AsSsize_t(args[4]);
        if (failed_cell < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "negative cell");
            }
            return NULL;
        }
    }
    if (store_request(self, args[0], duration, request_bytes, response_bytes, failed_cell) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Writer_methods[] = {
    {"add", (PyCFunction)(void (*)(void))Writer_add, METH_FASTCALL, "add(cell, amount): one update of one cell."},
    {"record", (PyCFunction)(void (*)(void))Writer_record, METH_FASTCALL,
     "record(series, duration, request_bytes, response_bytes, failed_cell): the stores of one finished request."},
    {NULL},
};

static PyTypeObject Writer_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "gunicorn_prometheus_exporter._hotpath.Writer",
    .tp_basicsize = sizeof(Writer),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The request cells of one slot's block, written without a lock.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Writer_init,
    .tp_dealloc = (destructor)Writer_dealloc,
    .tp_traverse = (traverseproc)Writer_traverse,
    .tp_clear = (inquiry)Writer_clear,
    .tp_methods = Writer_methods,
};

/* -- GunicornHooks: pre_request and post_request ---------------------------- */

typedef struct {
    PyObject_HEAD
    Writer *writer;
    PyObject *series_by_line;  /* dict: (method, status line) -> series */
    PyObject *series_for_line; /* callable(method, status line) -> series, for a pair not cached */
    PyObject *uncommon;        /* callable(req, environ, resp, duration): every other request */
    PyObject *then_pre;        /* the config's own hooks, or None */
    PyObject *then_post;
    PyObject *started_name;    /* interned attribute and key names */
    PyObject *method_name, *status_name, *sent_name;
    PyObject *escaped_key, *file_length_key, *content_length_key;
} GunicornHooks;

static int
GunicornHooks_init(GunicornHooks *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"writer",   "series_by_line",    "series_for_line", "uncommon",        "then_pre",
                            "then_post", "started_attribute", "escaped_key",     "file_length_key", NULL};
    PyObject *writer, *series_by_line, *series_for_line, *uncommon, *then_pre, *then_post, *started, *escaped,
        *file_length;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!OOOOUUU", names, &Writer_Type, &writer, &PyDict_Type,
                                     &series_by_line, &series_for_line, &uncommon, &then_pre, &then_post, &started,
                                     &escaped, &file_length)) {
        return -1;
    }
    Py_XSETREF(self->writer, (Writer *)Py_NewRef(writer));
    Py_XSETREF(self->series_by_line, Py_NewRef(series_by_line));
    Py_XSETREF(self->series_for_line, Py_NewRef(series_for_line));
    Py_XSETREF(self->uncommon, Py_NewRef(uncommon));
    Py_XSETREF(self->then_pre, Py_NewRef(then_pre));
    Py_XSETREF(self->then_post, Py_NewRef(then_post));
    Py_XSETREF(self->escaped_key, Py_NewRef(escaped));
    Py_XSETREF(self->file_length_key, Py_NewRef(file_length));
    Py_INCREF(started);
    PyUnicode_InternInPlace(&started);
    Py_XSETREF(self->started_name, started);
    Py_XSETREF(self->method_name, PyUnicode_InternFromString("method"));
    Py_XSETREF(self->status_name, PyUnicode_InternFromString("status"));
    Py_XSETREF(self->sent_name, PyUnicode_InternFromString("sent"));
    Py_XSETREF(self->content_length_key, PyUnicode_InternFromString("CONTENT_LENGTH"));
    if (!self->method_name || !self->status_name || !self->sent_name ||
        !self->content_length_key) {
        return -1;
    }
    return 0;
}

static int
GunicornHooks_traverse(GunicornHooks *self, visitproc visit, void *arg)
{
    Py_VISIT(self->writer);
    Py_VISIT(self->series_by_line);
    Py_VISIT(self->series_for_line);
    Py_VISIT(self->uncommon);
    Py_VISIT(self->then_pre);
    Py_VISIT(self->then_post);
    return 0;
}

static int
GunicornHooks_clear(GunicornHooks *self)
{
    Py_CLEAR(self->writer);
    Py_CLEAR(self->series_by_line);
    Py_CLEAR(self->series_for_line);
    Py_CLEAR(self->uncommon);
    Py_CLEAR(self->then_pre);
    Py_CLEAR(self->then_post);
    return 0;
}

static void
GunicornHooks_dealloc(GunicornHooks *self)
{
    PyObject_GC_UnTrack(self);
    GunicornHooks_clear(self);
    Py_CLEAR(self->started_name);
    Py_CLEAR(self->method_name);
    Py_CLEAR(self->status_name);
    Py_CLEAR(self->sent_name);
    Py_CLEAR(self->escaped_key);
    Py_CLEAR(self->file_length_key);
    Py_CLEAR(self->content_length_key);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
GunicornHooks_pre_request(GunicornHooks *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "pre_request(worker, req)");
        return NULL;
    }
    if (add_to_cell(self->writer, self->writer->busy, 1.0) < 0) {
        return NULL;
    }
    PyObject *started = PyFloat_FromDouble(monotonic_seconds());
    if (started == NULL) {
        return NULL;
    }
    int failed = PyObject_SetAttr(args[1], self->started_name, started);
    Py_DECREF(started);
    if (failed < 0) {
        return NULL;
    }
    if (self->then_pre != Py_None) {
        return PyObject_Vectorcall(self->then_pre, args, 2, NULL);
    }
    Py_RETURN_NONE;
}

/* A Content-Length value as a count of bytes: 1 parsed, 0 not plain digits (Python decides). */
static int
plain_length(PyObject *value, long long *out)
{
    if (!PyUnicode_Check(value) || !PyUnicode_IS_ASCII(value)) {
        return 0;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(value);
    const char *digits = (const char *)PyUnicode_DATA(value);
    if (n == 0 || n > 18) {
        return 0;
    }
    long long total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (digits[i] < '0' || digits[i] > '9') {
            return 0;
        }
        total = total * 10 + (digits[i] - '0');
    }
    *out = total;
    return 1;
}

/* Record a request on the common path; 1 recorded, 0 not common (Python records it), -1 error. */
static int
record_common(GunicornHooks *self, PyObject *req, PyObject *environ, PyObject *resp, double duration)
{
    if (resp == Py_None || !PyDict_CheckExact(environ)) {
        return 0;
    }
    PyObject *escaped = PyDict_GetItemWithError(environ, self->escaped_key);
    if (escaped != NULL || PyErr_Occurred()) {
        return escaped != NULL ? 0 : -1;
    }
    long long request_bytes = 0;
    PyObject *length = PyDict_GetItemWithError(environ, self->content_length_key);
    if (length == NULL && PyErr_Occurred()) {
        return -1;
    }
    if (length != NULL) {
        int present = PyObject_IsTrue(length);
        if (present < 0) {
            return -1;
        }
        if (present && !plain_length(length, &request_bytes)) {
            return 0; /* not plain digits: Python reads it */
        }
    }
    int result = 0;
    PyObject *status = NULL, *method = NULL, *sent = NULL, *line = NULL, *series = NULL;
    status = PyObject_GetAttr(resp, self->status_name);
    if (status == NULL) {
        goto error;
    }
    if (status == Py_None) {
        goto done; /* no status: Python answers it as a 500 */
    }
    sent = PyObject_GetAttr(resp, self->sent_name);
    if (sent == NULL) {
        goto error;
    }
    if (!PyLong_Check(sent)) {
        goto done; /* not Gunicorn's own count: Python reads it */
    }
    long long response_bytes = PyLong_AsLongLong(sent);
    if (response_bytes == -1 && PyErr_Occurred()) {
        goto error;
    }
    if (response_bytes == 0) {
        /* Gunicorn's sendfile path does not add to Response.sent: the file's size stands in. */
        PyObject *file_length = PyDict_GetItemWithError(environ, self->file_length_key);
        if (file_length == NULL && PyErr_Occurred()) {
            goto error;
        }
        if (file_length != NULL) {
            if (!PyLong_Check(file_length)) {
                goto done;
            }
            response_bytes = PyLong_AsLongLong(file_length);
            if (response_bytes == -1 && PyErr_Occurred()) {
                goto error;
            }
        }
    }
    method = PyObject_GetAttr(req, self->method_name);
    if (method == NULL) {
        goto error;
    }
    line = PyTuple_Pack(2, method, status);
    if (line == NULL) {
        goto error;
    }
    series = PyDict_GetItemWithError(self->series_by_line, line);
    if (series != NULL) {
        Py_INCREF(series);
    }
    else if (PyErr_Occurred()) {
        goto error;
    }
    else {
        PyObject *pair[2] = {method, status};
        series = PyObject_Vectorcall(self->series_for_line, pair, 2, NULL);
        if (series == NULL) {
            goto error;
        }
    }
    if (store_request(self->writer, series, duration, request_bytes, response_bytes, -1) < 0) {
        goto error;
    }
    result = 1;
    goto done;
error:
    result = -1;
done:
    Py_XDECREF(status);
    Py_XDECREF(sent);
    Py_XDECREF(method);
    Py_XDECREF(line);
    Py_XDECREF(series);
    return result;
}

static PyObject *
GunicornHooks_post_request(GunicornHooks *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "post_request(worker, req, environ, resp)");
        return NULL;
    }
    PyObject *req = args[1], *environ = args[2], *resp = args[3];
    PyObject *started;
    if (PyObject_GetOptionalAttr(req, self->started_name, &started) < 0) {
        return NULL;
    }
    if (started != NULL && started != Py_None) {
        double begun = PyFloat_AsDouble(started);
        Py_DECREF(started);
        if (begun == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
        double duration = monotonic_seconds() - begun;
        int recorded = record_common(self, req, environ, resp, duration);
        if (recorded < 0) {
            return NULL;
        }
        if (recorded == 0) {
            PyObject *duration_object = PyFloat_FromDouble(duration);
            if (duration_object == NULL) {
                return NULL;
            }
            PyObject *uncommon_args[4] = {req, environ, resp, duration_object};
            PyObject *done = PyObject_Vectorcall(self->uncommon, uncommon_args, 4, NULL);
            Py_DECREF(duration_object);
            if (done == NULL) {
                return NULL;
            }
            Py_DECREF(done);
        }
    }
    else {
        Py_XDECREF(started);
    }
    if (self->then_post != Py_None) {
        return PyObject_Vectorcall(self->then_post, args, 4, NULL);
    }
    Py_RETURN_NONE;
}

static PyMethodDef GunicornHooks_methods[] = {
    {"pre_request", (PyCFunction)(void (*)(void))GunicornHooks_pre_request, METH_FASTCALL,
     "Gunicorn's pre_request hook: count the worker busy, note the start on the request."},
    {"post_request", (PyCFunction)(void (*)(void))GunicornHooks_post_request, METH_FASTCALL,
     "Gunicorn's post_request hook: record the request."},
    {NULL},
};

static PyTypeObject GunicornHooks_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "gunicorn_prometheus_exporter._hotpath.GunicornHooks",
    .tp_basicsize = sizeof(GunicornHooks),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Gunicorn's pre_request and post_request hooks over one slot's Writer.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)GunicornHooks_init,
    .tp_dealloc = (destructor)GunicornHooks_dealloc,
    .tp_traverse = (traverseproc)GunicornHooks_traverse,
    .tp_clear = (inquiry)GunicornHooks_clear,
    .tp_methods = GunicornHooks_methods,
};

/* -- module ----------------------------------------------------------------- */

static struct PyModuleDef hotpath_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gunicorn_prometheus_exporter._hotpath",
    .m_doc = "The request path of Gunicorn's own workers, compiled.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__hotpath(void)
{
    if (PyType_Ready(&Writer_Type) < 0 || PyType_Ready(&GunicornHooks_Type) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&hotpath_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Writer", (PyObject *)&Writer_Type) < 0 ||
        PyModule_AddObjectRef(module, "GunicornHooks", (PyObject *)&GunicornHooks_Type) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
