"""``python -m sklik``: the ``sklik`` command line."""

from sklik._cli import run

run()
