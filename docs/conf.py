"""Sphinx configuration for the streambridge documentation (MyST Markdown + autodoc)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

# autodoc imports the package from the source tree, so the docs always describe this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import streambridge

logger = logging.getLogger(__name__)

project = "streambridge"
author = "streambridge developers"
copyright = "streambridge developers"
release = streambridge.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Cross-references that cannot resolve (anyio, typing, the standard library: no intersphinx,
# the docs build offline) stay plain text instead of failing the build.
nitpicky = False

# -- MyST ----------------------------------------------------------------------------------------

# Definition lists ("term" then ": definition") are used by the guides.
myst_enable_extensions = ["deflist"]
myst_heading_anchors = 3

# -- autodoc -------------------------------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
# No "members" default here: a boolean default would replace the explicit member lists that
# api.md gives some classes (Sphinx applies a non-string default over the directive's value).
#
# Duplicate objects: every public class is described exactly once, under the name users import
# (``streambridge.X``, or ``streambridge.chunks.X`` for the chunks); nothing is documented again
# through its defining module, and no page repeats an autodoc directive.  For the frozen, slotted
# dataclasses of ``streambridge.chunks`` the slot descriptor and the dataclass field are one
# member to autodoc, provided ``__slots__`` itself is not documented; the TypedDicts' keys come
# only from their annotations.  Excluding these dunders keeps it that way for every directive.
autodoc_default_options = {
    "exclude-members": "__slots__, __weakref__, __dict__, __init__, __new__",
}

# Handles the run engine creates for you: their constructors take private objects and are not
# part of the API, so their signatures are not shown.
_NO_CONSTRUCTOR_SIGNATURE = {
    "streambridge.CancellationSignal",
    "streambridge.EncodedStream",
    "streambridge.RunController",
    "streambridge.RunStream",
    "streambridge.StateProxy",
    "streambridge.ToolCallController",
}


def _hide_constructor_signature(
    app: Sphinx,
    what: str,
    name: str,
    obj: Any,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str, str | None] | None:
    if what == "class" and name in _NO_CONSTRUCTOR_SIGNATURE:
        return "", return_annotation
    return None


def _require_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Every public name the reference shows says what it is: one without a docstring is a
    warning, and the build's ``-W`` makes it an error."""
    if not any(line.strip() for line in lines) and what != "module":
        logger.warning("%s %s has no docstring: say what it is for", what, name)


def setup(app: Sphinx) -> None:
    app.connect("autodoc-process-signature", _hide_constructor_signature)
    app.connect("autodoc-process-docstring", _require_docstring)


# -- HTML ----------------------------------------------------------------------------------------

html_theme = "alabaster"
html_static_path = ["_static"]
html_css_files = ["tables.css"]
html_title = f"streambridge {release}"
html_theme_options = {
    "description": "Write an assistant's run once; stream it to any chat frontend.",
    "fixed_sidebar": True,
}
