"""``python -m keras_sanitize``: the ``keras-sanitize`` command."""

from __future__ import annotations

from keras_sanitize.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
