"""The stage harness users get (``keras_sanitize/testing.py``)."""

from __future__ import annotations

from _core_helpers import NoBang, Upper


def test_user_stage_passes_the_harness() -> None:
    from keras_sanitize.testing import check_stage

    check_stage(Upper(), ["abc", "ABC", ""], max_examples=40)
    check_stage(NoBang(), ["a!", "b"], max_examples=40)
