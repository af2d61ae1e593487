"""Field mapping: real marketplace payloads into canonical orders.

Each platform is described as data (:class:`PlatformMap`): source paths, units, status
tables on their real axes, adjustments and who bears them. The engine compiles a map
once and checks it (:class:`~orderkit.model.errors.DefinitionError` names a bad entry)
into a :class:`Plan` of small per-section readers that build the order through the
validating constructors. :func:`normalize` maps one order object and proves goods +
shipping + tax - discounts equals the platform's own payable amount, or raises
:class:`~orderkit.model.errors.MappingError` with ``.platform``, ``.path`` and ``.value``.

Built-in platforms (their maps are in :mod:`orderkit.mapping.maps`): ``tmall`` (also
``taobao``, with the same channel identity), ``jd``, ``pdd``, ``douyin``, ``shopify`` and
``woocommerce``. The canonical ``order_id`` is ``"<channel>:<channel order id>"``.

A sync engine calls :func:`read_order` (the order with the platform's modified time,
shop id, notes and the payload's digest), :func:`modified_at` (only the modified time)
and :func:`channel_identity` (only the key of the stored order).
"""

from orderkit.mapping.check import ConsistencyReport, Finding, check
from orderkit.mapping.compile import compile_map
from orderkit.mapping.doc import render_status_tables
from orderkit.mapping.plan import Plan
from orderkit.mapping.registry import (
    BatchResult,
    MappingFailure,
    Registry,
    channel_identity,
    default_registry,
    get_map,
    modified_at,
    normalize,
    normalize_many,
    platforms,
    read_order,
    register,
)
from orderkit.mapping.result import MappedOrder, payload_digest
from orderkit.mapping.spec import (
    MULTI_BUY_REMAINDER,
    PRESALE,
    AdjustmentListSpec,
    AdjustmentSpec,
    Field,
    HoldSpec,
    LinesSpec,
    PaymentSpec,
    PlatformHold,
    PlatformMap,
    RefundPaymentSpec,
    RefundSpec,
    ShipmentSpec,
    StatusAxis,
    StatusRule,
    StatusTable,
    TagSpec,
)

__all__ = [
    "MULTI_BUY_REMAINDER",
    "PRESALE",
    "AdjustmentListSpec",
    "AdjustmentSpec",
    "BatchResult",
    "ConsistencyReport",
    "Field",
    "Finding",
    "HoldSpec",
    "LinesSpec",
    "MappedOrder",
    "MappingFailure",
    "PaymentSpec",
    "Plan",
    "PlatformHold",
    "PlatformMap",
    "RefundPaymentSpec",
    "RefundSpec",
    "Registry",
    "ShipmentSpec",
    "StatusAxis",
    "StatusRule",
    "StatusTable",
    "TagSpec",
    "channel_identity",
    "check",
    "compile_map",
    "default_registry",
    "get_map",
    "modified_at",
    "normalize",
    "normalize_many",
    "payload_digest",
    "platforms",
    "read_order",
    "register",
    "render_status_tables",
]
