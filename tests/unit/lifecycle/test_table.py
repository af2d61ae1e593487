"""The transition table is data, checked when it is built, and drawn from itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orderkit.lifecycle import DEFAULT_TABLE, Rule, TransitionTable
from orderkit.model.errors import DefinitionError
from orderkit.model.orders import OrderStatus

DOC = Path(__file__).resolve().parents[3] / "docs" / "lifecycle.md"
AWAITING_REVIEW = 22


def small(**kw: object) -> TransitionTable:
    rules = kw.pop("rules", [(10, "pay", 20), (20, "complete", 50)])
    return TransitionTable(
        rules,  # type: ignore[arg-type]
        statuses=kw.pop("statuses", {10: "NEW", 20: "PAID", 50: "DONE"}),  # type: ignore[arg-type]
        initial=10,
        final=kw.pop("final", (50,)),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_default_table_covers_every_canonical_status() -> None:
    statuses = {r.source for r in DEFAULT_TABLE.rules} | {r.target for r in DEFAULT_TABLE.rules}
    assert statuses == {int(s) for s in OrderStatus}
    assert DEFAULT_TABLE.final == {50, 90, 95}


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"rules": [(10, "pay", 30), (20, "complete", 50)]}, "unknown target status"),
        ({"rules": [(10, "pay", 20), (20, "teleport", 50)]}, "unknown event"),
        ({"rules": [(10, "pay", 20, "rich"), (20, "complete", 50)]}, "unknown guard"),
        ({"rules": [(10, "pay", 50), (20, "complete", 50)]}, "unreachable status"),
        ({"rules": [(10, "pay", 20), (20, "hold", 20), (10, "complete", 50)]}, "dead end"),
        ({"rules": [(10, "pay", 20), (20, "complete", 50), (50, "refund", 20)]},
         "final status cannot move"),
        ({"rules": [(10, "pay", 20), (10, "pay", 50, "g"), (20, "complete", 50)],
          "guards": {"g": lambda o, e: True}}, "shadows"),
        ({"stale": {(20, "teleport"): "x"}}, "unknown status or event"),
        ({"final": (60,)}, "unknown final status"),
    ],
)
def test_bad_tables_are_refused_when_built(kw: dict[str, object], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        small(**kw)


def test_a_bad_row_is_named_by_its_path() -> None:
    with pytest.raises(DefinitionError) as info:
        small(rules=[(10, "pay", 20), (20, "complete", 50), ("x",)])
    assert info.value.path == "rules[2]"


def test_integrators_extend_the_table_with_a_review_state() -> None:
    table = DEFAULT_TABLE.extend(
        [
            (OrderStatus.PAID, "submit_review", AWAITING_REVIEW),
            (AWAITING_REVIEW, "approve_review", OrderStatus.PAID),
            (AWAITING_REVIEW, "cancel", OrderStatus.CANCELLED),
        ],
        statuses={AWAITING_REVIEW: "AWAITING_REVIEW"},
        events={"submit_review", "approve_review"},
    )
    assert table.candidates(20, "submit_review") == (Rule(20, "submit_review", 22),)
    assert "PAID --> AWAITING_REVIEW : submit_review" in table.to_mermaid()
    assert DEFAULT_TABLE.candidates(20, "submit_review") == ()
    with pytest.raises(DefinitionError, match="dead end"):
        DEFAULT_TABLE.extend([(20, "submit_review", 22)], statuses={22: "AWAITING_REVIEW"},
                             events={"submit_review"})


def test_an_extension_can_remove_rows() -> None:
    table = DEFAULT_TABLE.extend(remove=[(OrderStatus.PAID, "change_address")])
    assert table.candidates(20, "change_address") == ()


def test_mermaid_draws_every_row_and_the_final_states() -> None:
    text = DEFAULT_TABLE.to_mermaid()
    assert text.startswith("stateDiagram-v2\n    [*] --> PENDING_PAYMENT\n")
    assert "PAID --> SHIPPED : ship [no_holds], track [carrier_moving]" in text
    for name in ("COMPLETED", "CANCELLED", "CLOSED"):
        assert f"    {name} --> [*]" in text
    for rule in DEFAULT_TABLE.rules:
        assert rule.event in text


def test_the_documented_diagram_and_table_are_the_generated_ones() -> None:
    doc = DOC.read_text(encoding="utf-8")
    diagram = re.search(r"```mermaid\n(.*?)```", doc, re.DOTALL)
    assert diagram is not None
    assert diagram.group(1) == DEFAULT_TABLE.to_mermaid()
    assert DEFAULT_TABLE.to_markdown() in doc


def test_cli_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    from orderkit.cli import main

    assert main(["lifecycle-table"]) == 0
    assert capsys.readouterr().out == DEFAULT_TABLE.to_mermaid()
    assert main(["lifecycle-table", "--format", "markdown"]) == 0
    assert capsys.readouterr().out == DEFAULT_TABLE.to_markdown()


def test_the_table_says_where_open_units_can_still_ship_or_be_cancelled() -> None:
    able = {s for s in OrderStatus if DEFAULT_TABLE.can_ship_or_cancel(s)}
    assert able == {OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.PACKED,
                    OrderStatus.SHIPPED}
    assert not DEFAULT_TABLE.can_ship_or_cancel(22)  # a status the table does not know
    # A host status counts by where it leads: on to PAID (which ships), or only to
    # DELIVERED (which takes no ship and no cancel).
    host = DEFAULT_TABLE.extend(
        [(10, "submit_review", 22), (22, "approve_review", 20),
         (20, "hand_to_wms", 23), (23, "wms_delivered", 40)],
        statuses={22: "AWAITING_REVIEW", 23: "AT_WMS"},
        events={"submit_review", "approve_review", "hand_to_wms", "wms_delivered"},
    )
    assert host.can_ship_or_cancel(22)
    assert not host.can_ship_or_cancel(23)
