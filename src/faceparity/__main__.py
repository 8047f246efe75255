"""``python -m faceparity``: the ``faceparity`` command (as ``python -m faceparity.cli``)."""

from faceparity.cli import run

if __name__ == "__main__":  # pragma: no cover
    run()
