"""``python -m faceparity``: the ``faceparity`` command."""

from faceparity.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
