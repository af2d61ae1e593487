"""The 0.1 module paths still import, and give the model's own objects."""

from __future__ import annotations

import importlib

import pytest

ALIASES = {
    "orderkit.money": "orderkit.model.money",
    "orderkit.timekeeping": "orderkit.model.time",
    "orderkit.ids": "orderkit.model.ids",
    "orderkit.orders": "orderkit.model.orders",
    "orderkit.alerts": "orderkit.model.alerts",
    "orderkit.serialization": "orderkit.model.serialization",
    "orderkit.errors": "orderkit.model.errors",
}


@pytest.mark.parametrize(("alias", "module"), sorted(ALIASES.items()))
def test_an_alias_module_exports_the_model_objects(alias: str, module: str) -> None:
    old, new = importlib.import_module(alias), importlib.import_module(module)
    assert set(new.__all__) <= set(old.__all__)
    for name in new.__all__:
        assert getattr(old, name) is getattr(new, name)


def test_the_issuer_is_still_reachable_from_ids() -> None:
    from orderkit.ids import ReconIdIssuer
    from orderkit.numbering import ReconIdIssuer as Issuer

    assert ReconIdIssuer is Issuer
