"""lakeops: batch data and model operations over a lakehouse."""

__version__ = "0.1.0"
