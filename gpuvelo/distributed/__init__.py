"""Running partitions on Dask workers (a later issue)."""
