"""The audit entry checks what it holds, as every model value does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orderkit.model.audit import AuditEntry
from orderkit.model.errors import ValidationError


@pytest.mark.parametrize(("field", "bad"), [
    ("approved_by", "fin-\udc80"), ("approved_by", "fin\x00-1"), ("approved_by", "f" * 5000),
    ("actor", "cs\x00"), ("reason", "why\x00"), ("event_id", ""), ("order_id", 42),
    ("at", datetime(2026, 1, 1)), ("outcome", "approved"), ("from_status", "20"),
    ("changes", (("status", "10", "\udc80"),)), ("changes", [("a", "b", "c")]),
])
def test_an_audit_entry_checks_its_fields_on_construction(field: str, bad: object) -> None:
    fields: dict[str, Any] = {
        "order_id": "ORD-1", "event_id": "e1", "event": "refund", "actor": "cs-1",
        "at": datetime(2026, 1, 1, tzinfo=UTC), "event_at": datetime(2026, 1, 1, tzinfo=UTC),
        "from_status": 20, "to_status": 20,
    }
    AuditEntry(**fields, reason="x" * 10_000)  # the engine's texts may be long
    with pytest.raises(ValidationError) as refused:
        AuditEntry(**{**fields, field: bad})
    assert refused.value.path.startswith(field)
