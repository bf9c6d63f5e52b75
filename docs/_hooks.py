"""MkDocs hooks: the repository's README.md is the site's home page.

The README links the pages as ``docs/<page>.md`` and the pages link the README as
``../README.md``, so both read right in the repository; on the site these links become
``<page>.md`` and ``index.md``. The strict build then checks the README's links too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

HOME = "index.md"


def on_files(files: Files, config: Any) -> Files:
    readme = Path(config.config_file_path).parent / "README.md"
    files.append(File.generated(config, HOME, abs_src_path=str(readme)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    if page.file.src_uri == HOME:
        return re.sub(r"\]\(docs/", "](", markdown)
    return re.sub(r"\]\(\.\./README\.md", f"]({HOME}", markdown)
