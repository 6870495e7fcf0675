"""More than one core: BLAS ``threads``, one shared thread ``pool``, loss and gradient over row blocks
(``rows``), thread safety of a model (``locking``), and a Dask cluster (``dask``, imported on use).
The lowest floor beside validation: imports nothing of tinygraph at module level but itself (``dask``
imports training and optim inside its functions).
"""
from .rows import check_n_jobs, replica, row_blocks
from .threads import auto_row_blocks, auto_threads, blas_threads

__all__ = ["auto_row_blocks", "auto_threads", "blas_threads", "check_n_jobs", "replica", "row_blocks"]
