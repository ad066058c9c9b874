"""``python -m sklik``: the ``sklik`` command line."""

from sklik._cli import run

if __name__ == "__main__":
    run()
