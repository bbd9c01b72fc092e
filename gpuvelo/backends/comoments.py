"""CORR, COVAR_POP/SAMP and the REGR_* aggregates from mergeable co-moments.

Each aggregate of a pair ``(a, b)`` -- ``corr(a, b)``, ``regr_slope(y=a, x=b)`` -- keeps, over
the rows where both are non-NULL: ``n``, the means ``ma``/``mb``, the sums of squared
deviations ``m2a``/``m2b`` and the co-moment ``cab`` = sum((a - ma) * (b - mb)). Two such
summaries merge exactly with Chan et al.'s pairwise formulas (:func:`merge`), the same way
for batches, partitions and backends. Results follow DuckDB (see :func:`finalize`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

FUNCS = ("corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept", "regr_r2",
         "regr_count", "regr_avgx", "regr_avgy", "regr_sxx", "regr_syy", "regr_sxy")
FIELDS = ("n", "ma", "mb", "m2a", "m2b", "cab")


def merge(xp, x: dict, y: dict) -> dict:
    """The co-moments of the union of two row sets (``x`` and ``y``: FIELDS -> arrays);
    NaN and infinities propagate as they do in DuckDB, without warnings."""
    with np.errstate(invalid="ignore", over="ignore"):
        return _merge(xp, x, y)


def _merge(xp, x: dict, y: dict) -> dict:
    na, nb = x["n"].astype(xp.float64), y["n"].astype(xp.float64)
    n = na + nb
    safe = xp.where(n > 0, n, 1.0)
    da, db = y["ma"] - x["ma"], y["mb"] - x["mb"]
    w = na * nb / safe
    x_only, y_only = nb == 0, na == 0        # an empty side adds nothing (not even NaN * 0)

    def pick(combined, key):
        return xp.where(x_only, x[key], xp.where(y_only, y[key], combined))

    return {"n": x["n"] + y["n"].astype(x["n"].dtype),
            "ma": pick(x["ma"] + da * nb / safe, "ma"), "mb": pick(x["mb"] + db * nb / safe, "mb"),
            "m2a": pick(x["m2a"] + y["m2a"] + da * da * w, "m2a"),
            "m2b": pick(x["m2b"] + y["m2b"] + db * db * w, "m2b"),
            "cab": pick(x["cab"] + y["cab"] + da * db * w, "cab")}


def batch(xp, slot, a, b, size: int) -> dict:
    """The co-moments per slot (0..size-1) of rows ``slot`` with float64 values ``a``, ``b``
    (only the rows to count). Means are one of the group's own values plus the mean offset
    from it, so a constant group has its value as the mean exactly and no spread at all
    (DuckDB's NULL/NaN cases depend on that); the squares are taken in a second pass."""
    with np.errstate(invalid="ignore", over="ignore"):
        return _batch(xp, slot, a, b, size)


def _batch(xp, slot, a, b, size: int) -> dict:
    count = xp.bincount(slot, minlength=size)
    n = count.astype(xp.float64)
    safe = xp.where(n > 0, n, 1.0)

    def mean(x):
        ref = xp.zeros(size, dtype=xp.float64)
        ref[slot] = x                             # any one value of each group
        return ref + xp.bincount(slot, weights=x - ref[slot], minlength=size) / safe

    ma, mb = mean(a), mean(b)
    da, db = a - ma[slot], b - mb[slot]
    return {"n": count.astype(xp.int64), "ma": ma, "mb": mb,
            "m2a": xp.bincount(slot, weights=da * da, minlength=size),
            "m2b": xp.bincount(slot, weights=db * db, minlength=size),
            "cab": xp.bincount(slot, weights=da * db, minlength=size)}


def finalize(func: str, acc: dict) -> pa.Array:
    """DuckDB's value of ``func`` from host co-moments (NULL where no row counted)."""
    n = np.asarray(acc["n"], dtype=np.int64)
    if func == "regr_count":
        return pa.array(n)
    nf = n.astype(np.float64)
    ma, mb, m2a, m2b, c = (np.asarray(acc[k], dtype=np.float64) for k in FIELDS[1:])
    none = n == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        if func == "corr":
            v = c / np.sqrt(m2a * m2b)
        elif func == "covar_pop":
            v = c / np.where(none, 1.0, nf)
        elif func == "covar_samp":
            v, none = c / np.maximum(nf - 1.0, 1.0), n < 2
        elif func == "regr_slope":
            v = c / m2b
        elif func == "regr_intercept":
            v, none = ma - (c / m2b) * mb, none | (m2b == 0)
        elif func == "regr_r2":
            v = np.where(m2a == 0, 1.0, (c * c) / (m2a * m2b))
            none = none | (m2b == 0)
        else:
            v = {"regr_avgx": mb, "regr_avgy": ma, "regr_sxx": m2b, "regr_syy": m2a,
                 "regr_sxy": c}[func]
    return pa.array(v, mask=none)
