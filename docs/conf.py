"""Sphinx configuration of the sklik documentation.

Build from the repository root with warnings as errors::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build works offline: no intersphinx inventories, remote images or version switcher.
"""

import os

# The gallery examples run during the build: draw off-screen, and keep BLAS single-threaded.
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sklik  # noqa: E402

# -- project ------------------------------------------------------------------------------------

project = "sklik"
author = "sklik developers"
copyright = "sklik developers"
release = sklik.__version__
version = ".".join(release.split(".")[:2])

# -- general ------------------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
# compare_section.rst is pulled into the user guide by ``.. include::``, not a page of its own
exclude_patterns += ["compare_section.rst"]
root_doc = "index"
language = "en"
default_role = "literal"
# "On this page" lists ``fit``, not ``LinearRegressor.fit``: the full names overflow it
toc_object_entries_show_parents = "hide"

# -- autodoc, autosummary, numpydoc -------------------------------------------------------------

autosummary_generate = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc Parameters sections carry the types
autoclass_content = "class"

numpydoc_show_class_members = False  # the autosummary templates list the members
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- sphinx-gallery -----------------------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "image_scrapers": ("matplotlib",),
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}

# -- HTML ---------------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sklik {release}"
# no logo, icon links or version switcher: nothing to fetch
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path = []
# the user guide is one page without sub-pages: no empty "Section Navigation" column beside it
html_sidebars = {"user_guide": []}
html_show_sourcelink = False
html_copy_source = False
