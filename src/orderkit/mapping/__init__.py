"""Field mapping: real marketplace payloads into canonical orders.

Each platform is described as data (:class:`PlatformMap`): source paths, units, status
tables on their real axes, adjustments and who bears them. The engine compiles a map
once and checks it (:class:`~orderkit.model.errors.DefinitionError` names a bad entry)
into a :class:`Plan` of small per-section readers that build the order through the
validating constructors. :func:`normalize` maps one order object and proves goods +
shipping + tax - discounts equals the platform's own payable amount, or raises
:class:`~orderkit.model.errors.MappingError` with ``.platform``, ``.path`` and ``.value``.

Built-in platforms (their maps are in :mod:`orderkit.mapping.maps`): ``tmall`` (also
``taobao``), ``jd``, ``pdd``, ``douyin``, ``shopify`` and ``woocommerce``. The canonical
``order_id`` is ``"<platform>:<channel order id>"``.
"""

from orderkit.mapping.check import ConsistencyReport, Finding, check
from orderkit.mapping.compile import compile_map
from orderkit.mapping.doc import render_status_tables
from orderkit.mapping.plan import Plan
from orderkit.mapping.registry import (
    BatchResult,
    MappingFailure,
    Registry,
    default_registry,
    get_map,
    normalize,
    normalize_many,
    platforms,
    register,
)
from orderkit.mapping.spec import (
    MULTI_BUY_REMAINDER,
    AdjustmentListSpec,
    AdjustmentSpec,
    Field,
    LinesSpec,
    PaymentSpec,
    PlatformMap,
    RefundSpec,
    ShipmentSpec,
    StatusAxis,
    StatusRule,
    StatusTable,
)

__all__ = [
    "MULTI_BUY_REMAINDER",
    "AdjustmentListSpec",
    "AdjustmentSpec",
    "BatchResult",
    "ConsistencyReport",
    "Field",
    "Finding",
    "LinesSpec",
    "MappingFailure",
    "PaymentSpec",
    "Plan",
    "PlatformMap",
    "RefundSpec",
    "Registry",
    "ShipmentSpec",
    "StatusAxis",
    "StatusRule",
    "StatusTable",
    "check",
    "compile_map",
    "default_registry",
    "get_map",
    "normalize",
    "normalize_many",
    "platforms",
    "register",
    "render_status_tables",
]
