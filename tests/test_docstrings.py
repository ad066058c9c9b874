"""The examples in the docstrings run and print what they show (doctest), on the installed
package, so the check works for a regular as well as an editable install."""

import doctest
import importlib
import pkgutil

import pytest

import sklik

MODULES = [sklik.__name__] + [
    f"{sklik.__name__}.{info.name}" for info in pkgutil.iter_modules(sklik.__path__)
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_the_public_modules_have_examples():
    examples = sum(
        len(test.examples)
        for name in MODULES
        for test in doctest.DocTestFinder().find(importlib.import_module(name))
    )
    assert examples >= 15
