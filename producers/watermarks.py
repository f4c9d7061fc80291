"""Declared source watermarks: a source states it has delivered every event that occurred
up to an instant (`gov.ucwatch.control.SourceWatermark`, schemas/avro/control).

Detection keeps watermarks per partition of the lifecycle topic, and a child's events go
to one partition by its key, so a declaration is written to every partition, like a clock
tick (streams/ticks.py). Written by the same idempotent producer as the events before it,
each copy comes after those events on its partition.

    producer.declare_watermark("EOIR", complete_up_to_ms)      # EventProducer (sdk.py)
    ucwatch produce export.jsonl --complete-up-to EOIR=2023-09-30T23:59:59Z
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from ucwatch.core.errors import ContractError

_SOURCE = re.compile(r"^[A-Z][A-Z0-9_]*$")
ISSUERS = ("sdk", "produce", "simulator")


def watermark_record(source: Any, complete_up_to_ms: Any, declared_at_ms: int, partition: int,
                     issued_by: str = "sdk") -> dict[str, Any]:
    """The SourceWatermark record for one partition; ContractError for a bad declaration."""
    if not isinstance(source, str) or not _SOURCE.match(source):
        raise ContractError("bad_watermark", f"source must be an agency code such as EOIR, not {source!r}",
                            field="source")
    if isinstance(complete_up_to_ms, bool) or not isinstance(complete_up_to_ms, int):
        raise ContractError("bad_watermark", "complete_up_to must be int UTC milliseconds, not "
                                             f"{type(complete_up_to_ms).__name__}", field="complete_up_to")
    if complete_up_to_ms > declared_at_ms:
        raise ContractError("bad_watermark", "a source cannot be complete up to an instant still to come "
                                             f"({complete_up_to_ms} > now {declared_at_ms})", field="complete_up_to")
    if issued_by not in ISSUERS:
        raise ContractError("bad_watermark", f"issued_by must be one of {', '.join(ISSUERS)}", field="issued_by")
    return {"source": source, "complete_up_to": complete_up_to_ms, "declared_at": declared_at_ms,
            "partition": partition, "issued_by": issued_by}


def parse_declaration(text: str) -> tuple[str, int]:
    """`SOURCE=TIMESTAMP` (ISO-8601, UTC when no offset is given) as (source, epoch ms), for
    the command line; ContractError if it is not one."""
    source, sep, moment = text.partition("=")
    if not sep or not _SOURCE.match(source):
        raise ContractError("bad_watermark", f"expected SOURCE=TIMESTAMP, e.g. EOIR=2023-09-30T23:59:59Z, "
                                             f"not {text!r}", field="complete_up_to")
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        raise ContractError("bad_watermark", f"{moment!r} is not an ISO-8601 timestamp",
                            field="complete_up_to") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return source, int(parsed.timestamp() * 1000)
