"""The partials layout: the Arrow table every GroupState hands out and merges.

This is the one currency between partitions, backends, checkpoints and workers.

Columns, in order:

* ``k0 .. k{K-1}``: the group key values, Arrow type ``types.to_arrow(key dtype)``, nullable.
* then, for each aggregate ``j`` in ``StateSpec.aggs`` order, by ``func``:

  ================== ==========================================================================
  func               columns
  ================== ==========================================================================
  count_star, count  ``a{j}_n`` int64 (rows / non-NULL values)
  count_distinct,    ``a{j}_set`` list<argument's Arrow type>: the distinct non-NULL values
  sum_distinct,      (decimals as their scaled int64)
  avg_distinct
  arg_max, arg_min   ``a{j}_pos`` int64 arrival position of the chosen row (NULL when no row had
                     both arguments); ``a{j}_ord`` its ordering value (the second argument's
                     Arrow type, decimals as scaled int64); ``a{j}_val`` its value
  string_agg, mode   ``a{j}_vals`` list<argument's Arrow type>: every non-NULL value;
                     ``a{j}_vpos`` list<int64>: the arrival position of each (same offsets)
  list               ``a{j}_vals``: every value of the rows its FILTER kept, NULLs included
                     (decimals as their scaled int64); ``a{j}_vpos`` their arrival positions;
                     with ORDER BY another expression ``a{j}_vord`` list<its Arrow type>: the
                     ordering value of each (same offsets; absent without one)
  corr, covar_*,     ``a{j}_n`` int64; ``a{j}_ma``, ``a{j}_mb`` float64 means; ``a{j}_m2a``,
  regr_*             ``a{j}_m2b`` float64 squared deviations; ``a{j}_cab`` float64 co-moment
                     (rows where both arguments are non-NULL; see ``comoments.py``)
  quantile_cont,     ``a{j}_vals`` list<argument's Arrow type>: every non-NULL value (order
  quantile_disc      does not matter; decimals as their scaled int64, as for ``_set``)
  sum, avg           ``a{j}_n`` int64 non-NULL count; ``a{j}_sum``: int64 for integer, bool and
                     decimal arguments (decimals as the unscaled value, exact), float64 for floats
  min, max           ``a{j}_n`` int64; ``a{j}_val`` argument's Arrow type (NULL when n = 0)
  var_*, stddev_*    ``a{j}_n`` int64; ``a{j}_mean`` float64; ``a{j}_m2`` float64 (sum of squared
                     deviations from the mean; merged with Chan et al.'s pairwise formula)
  first, last,       ``a{j}_pos`` int64 arrival position of the chosen row (NULL when the group
  any_value          has no row); ``a{j}_val`` its value (may be NULL: FIRST/LAST keep NULLs;
                     any_value chooses among the rows whose value is not NULL)
  ================== ==========================================================================

Merging two partial rows of one group: n and sums add (integer sums checked for overflow);
min/max take the min/max of the non-empty sides; (n, mean, m2) combine pairwise; sets union;
value lists concatenate;
first and any_value take the smaller position, last the larger; arg_max/arg_min take the
larger/smaller ordering value, the smaller position among equal ones (NaN is the largest).
"""

from __future__ import annotations

from .comoments import FUNCS as COMOMENT_FUNCS

ACC_FIELDS = {
    "count_star": ("n",),
    "count": ("n",),
    "count_distinct": ("set",),
    "sum_distinct": ("set",),
    "avg_distinct": ("set",),
    "sum": ("n", "sum"),
    "avg": ("n", "sum"),
    "min": ("n", "val"),
    "max": ("n", "val"),
    "var_samp": ("n", "mean", "m2"),
    "var_pop": ("n", "mean", "m2"),
    "stddev_samp": ("n", "mean", "m2"),
    "stddev_pop": ("n", "mean", "m2"),
    "first": ("pos", "val"),
    "last": ("pos", "val"),
    "any_value": ("pos", "val"),
    "arg_max": ("pos", "ord", "val"),
    "arg_min": ("pos", "ord", "val"),
    **{f: ("n", "ma", "mb", "m2a", "m2b", "cab") for f in COMOMENT_FUNCS},
    "string_agg": ("vals", "vpos"),
    "mode": ("vals", "vpos"),
    "list": ("vals", "vpos", "vord"),
    "quantile_cont": ("vals",),
    "quantile_disc": ("vals",),
}

POSITIONAL = ("first", "last", "any_value")   # keep one row's value, chosen by arrival position
EARLIEST = ("first", "any_value")             # ... the earliest eligible row's
DISTINCT_FUNCS = ("count_distinct", "sum_distinct", "avg_distinct")   # keep the distinct values
LIST_FUNCS = ("quantile_cont", "quantile_disc")  # keep every non-NULL value (``vals``)
POSLIST_FUNCS = ("string_agg", "mode")          # every non-NULL value with its position
ARG_FUNCS = ("arg_max", "arg_min")            # keep one row's value, chosen by an ordering value


def acc_fields(agg) -> tuple[str, ...]:
    """The accumulator fields of aggregate ``agg`` (an ``AggSlot``): ``ACC_FIELDS`` of its
    function, less LIST's ``vord`` when it has no ordering argument."""
    fields = ACC_FIELDS[agg.func]
    return fields if agg.arg2_dtype is not None else tuple(f for f in fields if f != "vord")


def key_name(i: int) -> str:
    """Name of the i-th key column in partials and finalized tables."""
    return f"k{i}"


def acc_name(j: int, field: str) -> str:
    """Name of accumulator ``field`` of aggregate j in a partials table."""
    return f"a{j}_{field}"


def agg_name(j: int) -> str:
    """Name of aggregate j's SQL result in a finalized table."""
    return f"a{j}"
