"""Suite-wide command-line options."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-seconds",
        type=float,
        default=60.0,
        help="time budget of the fuzz test, shared by its targets (default 60)",
    )
