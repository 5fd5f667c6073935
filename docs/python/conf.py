"""Sphinx configuration of the Python API reference (make docs).

The reference is generated from the package's docstrings (reST, with
``:param:`` and ``:raises:``); the package is imported from python/src, and
importing it loads nothing (the library loads on first use).
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "python", "src")))

project = "prwlock"
author = "the prwlock authors"
extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
html_theme = "alabaster"
exclude_patterns = ["_build"]
nitpicky = False
