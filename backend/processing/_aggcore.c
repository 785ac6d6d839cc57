/* The candle aggregator's hot path, compiled: grouping, the per-bar fold, the roll-ups, eviction.
 *
 * backend/processing/aggregator.py is the specification: by_symbol, fold_bars, rebuild_rollups
 * and drop_before do what its _by_symbol, _fold_bars, _rebuild_rollups and _drop_before do, on
 * the same Python state (the _Symbol's dicts and sets), with the same arithmetic in the same
 * order, so both give equal candles (tests/backend/processing/test_aggcore_parity.py).
 * Values that are exact floats (and trade counts that are ints) are merged as C doubles; anything
 * else takes the generic Python number protocol, as the Python code would.  The rare paths (a day
 * entered for the first time, a rejection's message) call back into the Python aggregator.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#define MINUTE_MS 60000LL
#define HOUR_MS 3600000LL

/* Set once by configure(): the Candle type, the timeframes, the New York calendar helpers. */
static PyTypeObject *candle_type;
static PyObject *tf_m1, *tf_m5, *tf_m15, *tf_h1, *tf_d1;
static PyObject *ny_day_start_fn, *hours_of_day_fn;
static PyObject *str_am, *str_rejection, *zero, *one, *round_fn;

/* Field positions: of a Bar, and of a value tuple (o, h, l, c, v, pv, n[, vwap]). */
enum { B_EV = 0, B_START = 2, B_END = 3, B_O = 4, B_H, B_L, B_C, B_V, B_VWAP, B_Z = 13 };
enum { V_O = 0, V_H, V_L, V_C, V_V, V_PV, V_N, V_VWAP };

static inline long long floor_mod(long long a, long long b) {
    long long r = a % b;
    return r < 0 ? r + b : r;
}

/* An int as a long long (PyLong_AsLongLong goes through a byte array for ints above 2**30 in 3.11). */
static inline long long as_ll(PyObject *obj) {
    int overflow = 0;
    long long value = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (overflow) {
        PyErr_SetString(PyExc_OverflowError, "a time beyond 64 bits");
        return -1;
    }
    return value;
}

/* -- numbers: doubles when both sides are exact floats, Python's protocol otherwise -- */

static PyObject *num_mul(PyObject *a, PyObject *b) {
    if (PyFloat_CheckExact(a) && PyFloat_CheckExact(b))
        return PyFloat_FromDouble(PyFloat_AS_DOUBLE(a) * PyFloat_AS_DOUBLE(b));
    return PyNumber_Multiply(a, b);
}

static PyObject *num_div(PyObject *a, PyObject *b) {
    if (PyFloat_CheckExact(a) && PyFloat_CheckExact(b) && PyFloat_AS_DOUBLE(b) != 0.0)
        return PyFloat_FromDouble(PyFloat_AS_DOUBLE(a) / PyFloat_AS_DOUBLE(b));
    return PyNumber_TrueDivide(a, b);
}

/* Python's round(x) of a float: half to even, as an int. */
static PyObject *round_half_even(double x) {
    double r = round(x);
    if (fabs(x - r) == 0.5)
        r = 2.0 * round(x / 2.0);
    return PyLong_FromDouble(r);
}

/* (round(v / z) or 1) if z > 0 else 0: trades from the volume and the average trade size. */
static PyObject *trades_of(PyObject *v, PyObject *z) {
    if (PyFloat_CheckExact(v) && PyFloat_CheckExact(z)) {
        double dz = PyFloat_AS_DOUBLE(z);
        if (!(dz > 0.0))
            return Py_NewRef(zero);
        PyObject *n = round_half_even(PyFloat_AS_DOUBLE(v) / dz);
        if (n != NULL && PyObject_Not(n)) {
            Py_DECREF(n);
            return Py_NewRef(one);
        }
        return n;
    }
    int positive = PyObject_RichCompareBool(z, zero, Py_GT);
    if (positive < 0)
        return NULL;
    if (!positive)
        return Py_NewRef(zero);
    PyObject *q = PyNumber_TrueDivide(v, z);
    if (q == NULL)
        return NULL;
    PyObject *n = PyObject_CallOneArg(round_fn, q);
    Py_DECREF(q);
    if (n == NULL)
        return NULL;
    int truth = PyObject_IsTrue(n);
    if (truth < 0) {
        Py_DECREF(n);
        return NULL;
    }
    if (!truth) {
        Py_DECREF(n);
        return Py_NewRef(one);
    }
    return n;
}

/* merge_values(parts): open of the first, close of the last, extremes, sums (a new 7-tuple). */
static PyObject *merge_values(PyObject **parts, Py_ssize_t count) {
    PyObject *first = parts[0], *last = parts[count - 1];
    PyObject *h = PyTuple_GET_ITEM(first, V_H), *l = PyTuple_GET_ITEM(first, V_L);
    PyObject *v = PyTuple_GET_ITEM(first, V_V), *pv = PyTuple_GET_ITEM(first, V_PV);
    PyObject *n = PyTuple_GET_ITEM(first, V_N);
    if (count == 1)
        return PyTuple_Pack(7, PyTuple_GET_ITEM(first, V_O), h, l, PyTuple_GET_ITEM(last, V_C), v, pv, n);

    /* Fast path: every high, low, volume and price*volume an exact float, every trade count an int that fits. */
    int fast = 1;
    double dh = 0, dl = 0, dv = 0, dpv = 0;
    long long dn = 0;
    for (Py_ssize_t i = 0; i < count && fast; i++) {
        PyObject *p = parts[i];
        PyObject *ph = PyTuple_GET_ITEM(p, V_H), *pl = PyTuple_GET_ITEM(p, V_L);
        PyObject *pvol = PyTuple_GET_ITEM(p, V_V), *ppv = PyTuple_GET_ITEM(p, V_PV);
        PyObject *pn = PyTuple_GET_ITEM(p, V_N);
        if (!(PyFloat_CheckExact(ph) && PyFloat_CheckExact(pl) && PyFloat_CheckExact(pvol) &&
              PyFloat_CheckExact(ppv) && PyLong_CheckExact(pn))) {
            fast = 0;
            break;
        }
        int overflow = 0;
        long long ln = PyLong_AsLongLongAndOverflow(pn, &overflow);
        if (overflow) {
            fast = 0;
            break;
        }
        if (i == 0) {
            dh = PyFloat_AS_DOUBLE(ph);
            dl = PyFloat_AS_DOUBLE(pl);
            dv = PyFloat_AS_DOUBLE(pvol);
            dpv = PyFloat_AS_DOUBLE(ppv);
            dn = ln;
            continue;
        }
        if (PyFloat_AS_DOUBLE(ph) > dh) {
            dh = PyFloat_AS_DOUBLE(ph);
            h = ph;
        }
        if (PyFloat_AS_DOUBLE(pl) < dl) {
            dl = PyFloat_AS_DOUBLE(pl);
            l = pl;
        }
        dv += PyFloat_AS_DOUBLE(pvol);
        dpv += PyFloat_AS_DOUBLE(ppv);
        if (__builtin_add_overflow(dn, ln, &dn))
            fast = 0;
    }
    if (fast) {
        PyObject *out = PyTuple_New(7);
        if (out == NULL)
            return NULL;
        PyObject *fv = PyFloat_FromDouble(dv), *fpv = PyFloat_FromDouble(dpv), *fn = PyLong_FromLongLong(dn);
        if (fv == NULL || fpv == NULL || fn == NULL) {
            Py_XDECREF(fv);
            Py_XDECREF(fpv);
            Py_XDECREF(fn);
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, V_O, Py_NewRef(PyTuple_GET_ITEM(first, V_O)));
        PyTuple_SET_ITEM(out, V_H, Py_NewRef(h));
        PyTuple_SET_ITEM(out, V_L, Py_NewRef(l));
        PyTuple_SET_ITEM(out, V_C, Py_NewRef(PyTuple_GET_ITEM(last, V_C)));
        PyTuple_SET_ITEM(out, V_V, fv);
        PyTuple_SET_ITEM(out, V_PV, fpv);
        PyTuple_SET_ITEM(out, V_N, fn);
        return out;
    }

    /* Generic path: Python's comparisons and additions, in the same order as merge_values. */
    h = PyTuple_GET_ITEM(first, V_H);
    l = PyTuple_GET_ITEM(first, V_L);
    Py_INCREF(v);
    Py_INCREF(pv);
    Py_INCREF(n);
    for (Py_ssize_t i = 1; i < count; i++) {
        PyObject *p = parts[i], *sum;
        int gt = PyObject_RichCompareBool(PyTuple_GET_ITEM(p, V_H), h, Py_GT);
        int lt = gt < 0 ? -1 : PyObject_RichCompareBool(PyTuple_GET_ITEM(p, V_L), l, Py_LT);
        if (lt < 0)
            goto fail;
        if (gt)
            h = PyTuple_GET_ITEM(p, V_H);
        if (lt)
            l = PyTuple_GET_ITEM(p, V_L);
        if ((sum = PyNumber_Add(v, PyTuple_GET_ITEM(p, V_V))) == NULL)
            goto fail;
        Py_SETREF(v, sum);
        if ((sum = PyNumber_Add(pv, PyTuple_GET_ITEM(p, V_PV))) == NULL)
            goto fail;
        Py_SETREF(pv, sum);
        if ((sum = PyNumber_Add(n, PyTuple_GET_ITEM(p, V_N))) == NULL)
            goto fail;
        Py_SETREF(n, sum);
    }
    PyObject *out = PyTuple_Pack(7, PyTuple_GET_ITEM(first, V_O), h, l, PyTuple_GET_ITEM(last, V_C), v, pv, n);
    Py_DECREF(v);
    Py_DECREF(pv);
    Py_DECREF(n);
    return out;
fail:
    Py_DECREF(v);
    Py_DECREF(pv);
    Py_DECREF(n);
    return NULL;
}

/* vwap of merged values: pv / v if v else close (a new reference). */
static PyObject *vwap_of(PyObject *values) {
    PyObject *v = PyTuple_GET_ITEM(values, V_V);
    int truth = PyFloat_CheckExact(v) ? PyFloat_AS_DOUBLE(v) != 0.0 : PyObject_IsTrue(v);
    if (truth < 0)
        return NULL;
    if (!truth)
        return Py_NewRef(PyTuple_GET_ITEM(values, V_C));
    return num_div(PyTuple_GET_ITEM(values, V_PV), v);
}

/* minute_from_seconds(seconds): the minute's values, plus its vwap, from second bars keyed by start. */
static PyObject *minute_from_seconds(PyObject *seconds) {
    PyObject *keys = PyDict_Keys(seconds);
    if (keys == NULL)
        return NULL;
    if (PyList_Sort(keys) < 0) {
        Py_DECREF(keys);
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(keys);
    PyObject **parts = PyMem_Malloc(sizeof(PyObject *) * (count ? count : 1));
    if (parts == NULL) {
        Py_DECREF(keys);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < count; i++)
        parts[i] = PyDict_GetItem(seconds, PyList_GET_ITEM(keys, i));  /* borrowed; present */
    PyObject *merged = merge_values(parts, count);
    PyMem_Free(parts);
    Py_DECREF(keys);
    if (merged == NULL)
        return NULL;
    PyObject *vwap = vwap_of(merged);
    if (vwap == NULL) {
        Py_DECREF(merged);
        return NULL;
    }
    PyObject *out = PyTuple_New(8);
    if (out == NULL) {
        Py_DECREF(merged);
        Py_DECREF(vwap);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < 7; i++)
        PyTuple_SET_ITEM(out, i, Py_NewRef(PyTuple_GET_ITEM(merged, i)));
    PyTuple_SET_ITEM(out, V_VWAP, vwap);
    Py_DECREF(merged);
    return out;
}

/* -- state access -- */

static int get_ll(PyObject *obj, const char *name, long long *out) {
    PyObject *value = PyObject_GetAttrString(obj, name);
    if (value == NULL)
        return -1;
    *out = as_ll(value);
    Py_DECREF(value);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int set_ll(PyObject *obj, const char *name, long long value) {
    PyObject *boxed = PyLong_FromLongLong(value);
    if (boxed == NULL)
        return -1;
    int rc = PyObject_SetAttrString(obj, name, boxed);
    Py_DECREF(boxed);
    return rc;
}

static int append_pair(PyObject *list, PyObject *a, PyObject *b) {
    PyObject *pair = PyTuple_Pack(2, a, b);
    if (pair == NULL)
        return -1;
    int rc = PyList_Append(list, pair);
    Py_DECREF(pair);
    return rc;
}

/* A Candle (a tuple subclass) from its ten fields, each borrowed. */
static PyObject *make_candle(PyObject *sym, PyObject *tf, PyObject *start, PyObject *values, PyObject *vwap) {
    PyObject *c = candle_type->tp_alloc(candle_type, 10);
    if (c == NULL)
        return NULL;
    PyObject *items[10] = {sym, tf, start,
                           PyTuple_GET_ITEM(values, V_O), PyTuple_GET_ITEM(values, V_H),
                           PyTuple_GET_ITEM(values, V_L), PyTuple_GET_ITEM(values, V_C),
                           PyTuple_GET_ITEM(values, V_V), vwap, PyTuple_GET_ITEM(values, V_N)};
    for (int i = 0; i < 10; i++)
        PyTuple_SET_ITEM(c, i, Py_NewRef(items[i]));
    return c;
}

/* -- fold_bars -- */

typedef struct {
    PyObject *minutes, *am, *seconds_of;  /* the symbol's state (borrowed from the _Symbol's attributes) */
    PyObject *late, *rejected, *seconds_out, *settled;  /* the result's lists */
} FoldState;

static PyObject *fold_bars(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "fold_bars(agg, st, sym, bars, force, result, behind)");
        return NULL;
    }
    PyObject *agg = args[0], *st = args[1], *sym = args[2], *bars = args[3], *result = args[5];
    int force = PyObject_IsTrue(args[4]);
    long long behind = as_ll(args[6]);
    if (force < 0 || (behind == -1 && PyErr_Occurred()))
        return NULL;
    if (!PyList_Check(bars)) {
        PyErr_SetString(PyExc_TypeError, "bars must be a list");
        return NULL;
    }
    FoldState s = {0};
    PyObject *touched = NULL, *ret = NULL;
    long long evicted_before, max_end, day_lo, day_hi;
    if ((s.minutes = PyObject_GetAttrString(st, "minutes")) == NULL ||
        (s.am = PyObject_GetAttrString(st, "am")) == NULL ||
        (s.seconds_of = PyObject_GetAttrString(st, "seconds")) == NULL ||
        (s.late = PyObject_GetAttrString(result, "late")) == NULL ||
        (s.rejected = PyObject_GetAttrString(result, "rejected")) == NULL ||
        (s.seconds_out = PyObject_GetAttrString(result, "seconds")) == NULL ||
        (s.settled = PyObject_GetAttrString(result, "settled")) == NULL ||
        get_ll(st, "evicted_before", &evicted_before) < 0 || get_ll(st, "max_end", &max_end) < 0 ||
        get_ll(st, "day_lo", &day_lo) < 0 || get_ll(st, "day_hi", &day_hi) < 0)
        goto done;
    if (!PyDict_CheckExact(s.minutes) || !PySet_CheckExact(s.am) || !PyDict_CheckExact(s.seconds_of)) {
        PyErr_SetString(PyExc_TypeError, "a symbol's minutes, am and seconds must be a dict, a set and a dict");
        goto done;
    }
    if ((touched = PySet_New(NULL)) == NULL)
        goto done;

    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(bars); i++) {
        PyObject *bar = PyList_GET_ITEM(bars, i);
        if (!PyTuple_Check(bar) || PyTuple_GET_SIZE(bar) < 15) {
            PyErr_SetString(PyExc_TypeError, "a bar must be a Bar");
            goto done;
        }
        PyObject *ev = PyTuple_GET_ITEM(bar, B_EV), *start_obj = PyTuple_GET_ITEM(bar, B_START);
        long long start = as_ll(start_obj);
        long long end = as_ll(PyTuple_GET_ITEM(bar, B_END));
        if ((start == -1 || end == -1) && PyErr_Occurred())
            goto done;
        int is_am = ev == str_am;
        if (!is_am && PyUnicode_Check(ev))
            is_am = PyUnicode_Compare(ev, str_am) == 0;
        if (start < evicted_before || start < max_end - behind) {  /* rare: far behind */
            if (!is_am && start < max_end - behind) {
                PyObject *why = PyObject_CallMethodOneArg(agg, str_rejection, bar);  /* not "O": a bar is a tuple */
                if (why == NULL || PyList_Append(s.rejected, why) < 0) {
                    Py_XDECREF(why);
                    goto done;
                }
                Py_DECREF(why);
                continue;
            }
            if (start < evicted_before) {
                if (PyList_Append(s.late, bar) < 0)
                    goto done;
                continue;
            }
        }
        if (end > max_end)
            max_end = end;  /* st.max_end is written before a call back into Python, and at the end */
        long long minute_ll = start - floor_mod(start, MINUTE_MS);
        if (!(day_lo <= minute_ll && minute_ll < day_hi)) {
            if (set_ll(st, "max_end", max_end) < 0)
                goto done;
            PyObject *entered = PyObject_CallMethod(agg, "_enter_day", "OOL", sym, st, minute_ll);
            if (entered == NULL)
                goto done;
            Py_DECREF(entered);
            if (get_ll(st, "day_lo", &day_lo) < 0 || get_ll(st, "day_hi", &day_hi) < 0)
                goto done;
        }
        PyObject *minute = PyLong_FromLongLong(minute_ll);
        if (minute == NULL)
            goto done;
        PyObject *o = PyTuple_GET_ITEM(bar, B_O), *h = PyTuple_GET_ITEM(bar, B_H);
        PyObject *l = PyTuple_GET_ITEM(bar, B_L), *c = PyTuple_GET_ITEM(bar, B_C);
        PyObject *v = PyTuple_GET_ITEM(bar, B_V), *vwap = PyTuple_GET_ITEM(bar, B_VWAP);
        PyObject *z = PyTuple_GET_ITEM(bar, B_Z);
        PyObject *new = NULL;
        if (!is_am) {
            int contains = PySet_Contains(s.am, minute);
            if (contains) {
                Py_DECREF(minute);
                if (contains < 0)
                    goto done;
                continue;  /* the minute bar is authoritative once it has arrived */
            }
        }
        PyObject *pv = num_mul(vwap, v);
        PyObject *n = pv ? trades_of(v, z) : NULL;
        if (n == NULL) {
            Py_XDECREF(pv);
            Py_DECREF(minute);
            goto done;
        }
        if (is_am) {
            new = PyTuple_Pack(8, o, h, l, c, v, pv, n, vwap);
            Py_DECREF(pv);
            Py_DECREF(n);
            if (new == NULL || PySet_Add(s.am, minute) < 0)
                goto fail_minute;
            int settled = force;
            if (PyDict_GET_SIZE(s.seconds_of)) {
                PyObject *held = PyDict_GetItemWithError(s.seconds_of, minute);
                if (held == NULL && PyErr_Occurred())
                    goto fail_minute;
                if (held != NULL) {
                    if (PyDict_DelItem(s.seconds_of, minute) < 0)
                        goto fail_minute;
                    settled = 1;
                }
            }
            if (settled && append_pair(s.settled, sym, minute) < 0)
                goto fail_minute;
        } else {
            PyObject *second = PyTuple_Pack(7, o, h, l, c, v, pv, n);
            Py_DECREF(pv);
            Py_DECREF(n);
            if (second == NULL)
                goto fail_minute;
            PyObject *seconds = PyDict_GetItemWithError(s.seconds_of, minute);  /* borrowed */
            if (seconds == NULL) {
                if (PyErr_Occurred() || (seconds = PyDict_New()) == NULL ||
                    PyDict_SetItem(s.seconds_of, minute, seconds) < 0) {
                    Py_XDECREF(seconds);
                    Py_DECREF(second);
                    goto fail_minute;
                }
                Py_DECREF(seconds);  /* the dict of seconds holds it */
            }
            if (!force) {
                PyObject *held = PyDict_GetItemWithError(seconds, start_obj);
                int same = held == NULL ? 0 : PyObject_RichCompareBool(held, second, Py_EQ);
                if ((held == NULL && PyErr_Occurred()) || same < 0) {
                    Py_DECREF(second);
                    goto fail_minute;
                }
                if (same) {
                    Py_DECREF(second);
                    Py_DECREF(minute);
                    continue;
                }
            }
            PyObject *entry = PyTuple_Pack(3, sym, start_obj, second);
            int rc = (entry == NULL || PyDict_SetItem(seconds, start_obj, second) < 0 ||
                      PyList_Append(s.seconds_out, entry) < 0) ? -1 : 0;
            Py_XDECREF(entry);
            Py_DECREF(second);
            if (rc < 0 || (new = minute_from_seconds(seconds)) == NULL)
                goto fail_minute;
        }
        int changed = force;
        if (!changed) {
            PyObject *old = PyDict_GetItemWithError(s.minutes, minute);
            if (old == NULL && PyErr_Occurred())
                goto fail_minute;
            changed = old == NULL ? 1 : PyObject_RichCompareBool(old, new, Py_NE);
            if (changed < 0)
                goto fail_minute;
        }
        if (changed && (PyDict_SetItem(s.minutes, minute, new) < 0 || PySet_Add(touched, minute) < 0))
            goto fail_minute;
        Py_DECREF(new);
        Py_DECREF(minute);
        continue;
    fail_minute:
        Py_XDECREF(new);
        Py_DECREF(minute);
        goto done;
    }
    if (set_ll(st, "max_end", max_end) == 0)
        ret = Py_NewRef(touched);
done:
    if (ret == NULL && touched != NULL) {  /* an error mid-way: st.max_end still counts the bars applied, as in Python */
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        if (set_ll(st, "max_end", max_end) < 0)
            PyErr_Clear();
        PyErr_Restore(type, value, traceback);
    }
    Py_XDECREF(touched);
    Py_XDECREF(s.minutes);
    Py_XDECREF(s.am);
    Py_XDECREF(s.seconds_of);
    Py_XDECREF(s.late);
    Py_XDECREF(s.rejected);
    Py_XDECREF(s.seconds_out);
    Py_XDECREF(s.settled);
    return ret;
}

/* -- rebuild_rollups -- */

/* Sorted distinct floor(t / length) * length of sorted ``starts`` (a list of ints). */
static PyObject *bucket_starts(PyObject *starts, long long length) {
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    long long previous = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(starts); i++) {
        long long t = as_ll(PyList_GET_ITEM(starts, i));
        if (t == -1 && PyErr_Occurred())
            goto fail;
        long long bucket = t - floor_mod(t, length);
        if (PyList_GET_SIZE(out) && bucket == previous)
            continue;
        PyObject *boxed = PyLong_FromLongLong(bucket);
        if (boxed == NULL || PyList_Append(out, boxed) < 0) {
            Py_XDECREF(boxed);
            goto fail;
        }
        Py_DECREF(boxed);
        previous = bucket;
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* Merge the children present at ``keys`` into store[start] (unless store is NULL); append its candle to ``out``. */
static int roll_up(PyObject *sym, PyObject *tf, PyObject *start, PyObject *children, PyObject *keys,
                   PyObject *store, PyObject *out) {
    Py_ssize_t count = PyTuple_GET_SIZE(keys), found = 0;
    PyObject *stack_parts[32];
    PyObject **parts = count <= 32 ? stack_parts : PyMem_Malloc(sizeof(PyObject *) * count);
    if (parts == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int rc = -1;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *child = PyDict_GetItemWithError(children, PyTuple_GET_ITEM(keys, i));
        if (child != NULL)
            parts[found++] = child;
        else if (PyErr_Occurred())
            goto done;
    }
    if (found == 0) {
        PyErr_SetString(PyExc_RuntimeError, "a roll-up bucket without children");
        goto done;
    }
    PyObject *values = merge_values(parts, found);
    if (values == NULL)
        goto done;
    PyObject *vwap = vwap_of(values);
    PyObject *candle = vwap ? make_candle(sym, tf, start, values, vwap) : NULL;
    if (candle != NULL && (store == NULL || PyDict_SetItem(store, start, values) == 0) &&
        PyList_Append(out, candle) == 0)
        rc = 0;
    Py_XDECREF(candle);
    Py_XDECREF(vwap);
    Py_DECREF(values);
done:
    if (parts != stack_parts)
        PyMem_Free(parts);
    return rc;
}

/* The keys start, start + step, … below start + length, as a tuple of ints. */
static PyObject *child_keys(long long start, long long length, long long step) {
    Py_ssize_t count = (Py_ssize_t)(length / step);
    PyObject *keys = PyTuple_New(count);
    if (keys == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key = PyLong_FromLongLong(start + i * step);
        if (key == NULL) {
            Py_DECREF(keys);
            return NULL;
        }
        PyTuple_SET_ITEM(keys, i, key);
    }
    return keys;
}

static PyObject *rebuild_rollups(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "rebuild_rollups(sym, st, minutes, out)");
        return NULL;
    }
    PyObject *sym = args[0], *st = args[1], *out = args[3];
    PyObject *mins = NULL, *m5 = NULL, *m15 = NULL, *h1 = NULL, *starts = NULL, *ret = NULL;
    if (!PyList_Check(out)) {
        PyErr_SetString(PyExc_TypeError, "out must be a list");
        return NULL;
    }
    if ((mins = PyObject_GetAttrString(st, "minutes")) == NULL || (m5 = PyObject_GetAttrString(st, "m5")) == NULL ||
        (m15 = PyObject_GetAttrString(st, "m15")) == NULL || (h1 = PyObject_GetAttrString(st, "h1")) == NULL ||
        (starts = PySequence_List(args[2])) == NULL || PyList_Sort(starts) < 0)
        goto done;

    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(starts); i++) {
        PyObject *minute = PyList_GET_ITEM(starts, i);
        PyObject *v = PyDict_GetItemWithError(mins, minute);
        if (v == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetObject(PyExc_KeyError, minute);
            goto done;
        }
        PyObject *candle = make_candle(sym, tf_m1, minute, v, PyTuple_GET_ITEM(v, V_VWAP));
        if (candle == NULL || PyList_Append(out, candle) < 0) {
            Py_XDECREF(candle);
            goto done;
        }
        Py_DECREF(candle);
    }
    struct { PyObject *tf, *store, *children; long long length, step; } levels[3] = {
        {tf_m5, m5, mins, 5 * MINUTE_MS, MINUTE_MS},
        {tf_m15, m15, m5, 15 * MINUTE_MS, 5 * MINUTE_MS},
        {tf_h1, h1, m15, HOUR_MS, 15 * MINUTE_MS},
    };
    for (int level = 0; level < 3; level++) {
        PyObject *buckets = bucket_starts(starts, levels[level].length);
        if (buckets == NULL)
            goto done;
        Py_SETREF(starts, buckets);
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(starts); i++) {
            PyObject *start = PyList_GET_ITEM(starts, i);
            long long t = as_ll(start);
            PyObject *keys = (t == -1 && PyErr_Occurred()) ? NULL
                                                           : child_keys(t, levels[level].length, levels[level].step);
            int rc = keys ? roll_up(sym, levels[level].tf, start, levels[level].children, keys, levels[level].store,
                                    out) : -1;
            Py_XDECREF(keys);
            if (rc < 0)
                goto done;
        }
    }
    /* Days: New York days of the hours (non-decreasing with time, so distinct days are adjacent). */
    PyObject *previous = NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(starts); i++) {
        PyObject *day = PyObject_CallOneArg(ny_day_start_fn, PyList_GET_ITEM(starts, i));
        if (day == NULL)
            goto done;
        int same = previous ? PyObject_RichCompareBool(day, previous, Py_EQ) : 0;
        if (same) {
            Py_DECREF(day);
            if (same < 0)
                goto done;
            continue;
        }
        PyObject *hours = PyObject_CallOneArg(hours_of_day_fn, day);
        PyObject *keys = hours ? PySequence_Tuple(hours) : NULL;
        Py_XDECREF(hours);
        int rc = keys ? roll_up(sym, tf_d1, day, h1, keys, NULL, out) : -1;  /* a day is not kept in memory */
        Py_XDECREF(keys);
        Py_XSETREF(previous, day);
        if (rc < 0)
            goto done;
    }
    Py_XDECREF(previous);
    ret = Py_NewRef(Py_None);
done:
    Py_XDECREF(mins);
    Py_XDECREF(m5);
    Py_XDECREF(m15);
    Py_XDECREF(h1);
    Py_XDECREF(starts);
    return ret;
}

/* -- by_symbol, drop_before -- */

static PyObject *by_symbol(PyObject *module, PyObject *bars) {
    PyObject *seq = PySequence_Fast(bars, "bars must be iterable");
    if (seq == NULL)
        return NULL;
    PyObject *groups = PyDict_New();
    if (groups == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *bar = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(bar) || PyTuple_GET_SIZE(bar) < 2) {
            PyErr_SetString(PyExc_TypeError, "a bar must be a Bar");
            goto fail;
        }
        PyObject *sym = PyTuple_GET_ITEM(bar, 1);
        PyObject *group = PyDict_GetItemWithError(groups, sym);
        if (group == NULL) {
            if (PyErr_Occurred() || (group = PyList_New(0)) == NULL)
                goto fail;
            int rc = PyDict_SetItem(groups, sym, group);
            Py_DECREF(group);
            if (rc < 0)
                goto fail;
        }
        if (PyList_Append(group, bar) < 0)
            goto fail;
    }
    Py_DECREF(seq);
    return groups;
fail:
    Py_XDECREF(groups);
    Py_DECREF(seq);
    return NULL;
}

/* A new dict (or set) of the items of ``held`` whose key is >= cutoff. */
static PyObject *keep_from(PyObject *held, long long cutoff) {
    int is_set = PyAnySet_Check(held);
    if (!is_set && !PyDict_Check(held)) {
        PyErr_SetString(PyExc_TypeError, "a symbol's state must be dicts and sets");
        return NULL;
    }
    PyObject *kept = is_set ? PySet_New(NULL) : PyDict_New();
    if (kept == NULL)
        return NULL;
    if (is_set) {
        PyObject *it = PyObject_GetIter(held), *key;
        if (it == NULL)
            goto fail;
        while ((key = PyIter_Next(it)) != NULL) {
            long long k = as_ll(key);
            int rc = (k == -1 && PyErr_Occurred()) ? -1 : k < cutoff ? 0 : PySet_Add(kept, key);
            Py_DECREF(key);
            if (rc < 0) {
                Py_DECREF(it);
                goto fail;
            }
        }
        Py_DECREF(it);
        if (PyErr_Occurred())
            goto fail;
        return kept;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(held, &pos, &key, &value)) {
        long long k = as_ll(key);
        if (k == -1 && PyErr_Occurred())
            goto fail;
        if (k >= cutoff && PyDict_SetItem(kept, key, value) < 0)
            goto fail;
    }
    return kept;
fail:
    Py_DECREF(kept);
    return NULL;
}

static PyObject *drop_before(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    static const char *const fields[] = {"minutes", "am", "seconds", "m5", "m15", "h1", "days"};
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "drop_before(st, cutoff)");
        return NULL;
    }
    long long cutoff = as_ll(args[1]);
    if (cutoff == -1 && PyErr_Occurred())
        return NULL;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        PyObject *held = PyObject_GetAttrString(args[0], fields[i]);
        PyObject *kept = held ? keep_from(held, cutoff) : NULL;
        Py_XDECREF(held);
        int rc = kept ? PyObject_SetAttrString(args[0], fields[i], kept) : -1;
        Py_XDECREF(kept);
        if (rc < 0)
            return NULL;
    }
    Py_RETURN_NONE;
}

/* -- module -- */

static PyObject *configure(PyObject *module, PyObject *args) {
    PyObject *candle, *timeframes, *ny_day_start, *hours_of_day;
    if (!PyArg_ParseTuple(args, "O!O!OO:configure", &PyType_Type, &candle, &PyTuple_Type, &timeframes,
                          &ny_day_start, &hours_of_day))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)candle, &PyTuple_Type) || PyTuple_GET_SIZE(timeframes) != 5) {
        PyErr_SetString(PyExc_TypeError, "configure(Candle, (M1, M5, M15, H1, D1), ny_day_start, hours_of_day)");
        return NULL;
    }
    Py_XSETREF(candle_type, (PyTypeObject *)Py_NewRef(candle));
    Py_XSETREF(tf_m1, Py_NewRef(PyTuple_GET_ITEM(timeframes, 0)));
    Py_XSETREF(tf_m5, Py_NewRef(PyTuple_GET_ITEM(timeframes, 1)));
    Py_XSETREF(tf_m15, Py_NewRef(PyTuple_GET_ITEM(timeframes, 2)));
    Py_XSETREF(tf_h1, Py_NewRef(PyTuple_GET_ITEM(timeframes, 3)));
    Py_XSETREF(tf_d1, Py_NewRef(PyTuple_GET_ITEM(timeframes, 4)));
    Py_XSETREF(ny_day_start_fn, Py_NewRef(ny_day_start));
    Py_XSETREF(hours_of_day_fn, Py_NewRef(hours_of_day));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(Candle, (M1, M5, M15, H1, D1), ny_day_start, hours_of_day): what the core builds candles with."},
    {"fold_bars", (PyCFunction)(void (*)(void))fold_bars, METH_FASTCALL,
     "fold_bars(agg, st, sym, bars, force, result, behind) -> set of changed minutes: aggregator._fold_bars."},
    {"rebuild_rollups", (PyCFunction)(void (*)(void))rebuild_rollups, METH_FASTCALL,
     "rebuild_rollups(sym, st, minutes, out): aggregator._rebuild_rollups."},
    {"by_symbol", by_symbol, METH_O, "by_symbol(bars) -> {symbol: [bar, ...]}: aggregator._by_symbol."},
    {"drop_before", (PyCFunction)(void (*)(void))drop_before, METH_FASTCALL,
     "drop_before(st, cutoff): aggregator._drop_before."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_aggcore", "The candle aggregator's compiled hot path (see aggregator.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__aggcore(void) {
    str_am = PyUnicode_InternFromString("AM");
    str_rejection = PyUnicode_InternFromString("_rejection");
    zero = PyLong_FromLong(0);
    one = PyLong_FromLong(1);
    PyObject *builtins = PyImport_ImportModule("builtins");
    round_fn = builtins ? PyObject_GetAttrString(builtins, "round") : NULL;
    Py_XDECREF(builtins);
    if (str_am == NULL || str_rejection == NULL || zero == NULL || one == NULL || round_fn == NULL)
        return NULL;
    return PyModule_Create(&module_def);
}
