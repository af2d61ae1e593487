"""Importing one adapter loads that adapter and the model, nothing else."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import orderkit.adapters.memory
import orderkit.adapters.postgres
import orderkit.adapters.sqlite


def _loaded_after(statement: str) -> list[str]:
    code = (
        f"import json, sys\n{statement}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('orderkit'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(out.stdout)
    return loaded


@pytest.mark.parametrize("adapter", ["memory", "sqlite", "postgres"])
def test_an_order_repository_loads_no_capability(adapter: str) -> None:
    loaded = _loaded_after(f"import orderkit.adapters.{adapter}.orders")
    outside = [
        name
        for name in loaded
        if not name.startswith(("orderkit.model", f"orderkit.adapters.{adapter}"))
        and name
        not in ("orderkit", "orderkit.adapters", "orderkit.adapters._lazy",
                "orderkit.adapters._extras", "orderkit.adapters._commit")
    ]
    assert outside == []


@pytest.mark.parametrize(
    "package", [orderkit.adapters.memory, orderkit.adapters.sqlite, orderkit.adapters.postgres]
)
def test_every_exported_adapter_resolves(package: object) -> None:
    for name in package.__all__:  # type: ignore[attr-defined]
        assert getattr(package, name).__name__ == name
    with pytest.raises(AttributeError):
        package.NoSuchAdapter  # type: ignore[attr-defined]  # noqa: B018
