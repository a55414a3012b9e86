"""The PFS double against what a live pachd answered to the same raw calls.

tests/pachyderm/live/scenarios.py ran on pachd 2.6.0 (run_live.sh, ``--record``) and wrote its
observations to observed-pachd-2.6.0.json. Here each scenario runs on the double and must observe
the same. A scenario where the double is still known to differ is a strict xfail naming the
issue 13 §1 item: it turns into a failure (XPASS) the moment the double is fixed, so the entry is
removed with the fix.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import scenarios

RECORDED: dict[str, Any] = (
    json.loads(scenarios.RECORDED.read_text()) if scenarios.RECORDED.exists() else {}
)

KNOWN_DIFFERENCES: dict[str, str] = {}
"""Scenario -> why the double still answers otherwise than pachd (issue 13 §1)."""


def _params() -> list[Any]:
    return [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(reason=KNOWN_DIFFERENCES[name], strict=True)]
            if name in KNOWN_DIFFERENCES
            else [],
        )
        for name in scenarios.SCENARIOS
    ]


@pytest.mark.parametrize("name", _params())
def test_double_answers_as_pachd(name: str) -> None:
    if name not in RECORDED:
        pytest.fail(f"no recorded pachd observation for {name}: run run_live.sh, then --record")
    with scenarios.double() as address:
        observed = scenarios.run_all(address, [name])
    assert scenarios.differences(observed, {name: RECORDED[name]}) == []
