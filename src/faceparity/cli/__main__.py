"""``python -m faceparity.cli``: the ``faceparity`` command."""

from faceparity.cli import run

if __name__ == "__main__":  # pragma: no cover
    run()
