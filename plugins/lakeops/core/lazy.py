"""Modules imported on first use, so DAG files can wire stage functions without paying for
(or holding) what those functions need when they run.

A DAG file names ``ingest.ingest_table`` at parse time; :mod:`lakeops.ingest.stage` needs duckdb
and pyarrow only when the task runs. ``pa = lazy("pyarrow")`` at the top of a stage module
binds a stand-in that imports pyarrow the first time an attribute is read.

Written here because the standard library's ``importlib.util.LazyLoader`` (and
``lazy_loader``, which builds on it) resolve a submodule's spec eagerly, and that imports
the parent package: ``pyarrow.parquet`` would load all of pyarrow at parse time.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class _LazyModule(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)
        return getattr(module, attr)


def lazy(name: str) -> Any:
    """A stand-in for module ``name`` that imports it when an attribute is first read."""
    return _LazyModule(name)
