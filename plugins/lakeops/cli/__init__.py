"""The ``lakeops`` command line, one module per group of commands (``app`` gathers them)."""
