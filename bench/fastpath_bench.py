"""Avro encoding: ucwatch's generated encoders (schemas/fastpath.py) against fastavro.

    python -m bench.fastpath_bench [--events 100000] [--rounds 5]

Both encode the same simulated lifecycle events, normalized by the contract as the SDK
hands them to the encoder, one record per call, into the schemaless Avro body (the wire
header is the same few bytes for both and left out):
  fastavro  `fastavro.schemaless_writer` into a reused buffer (what the SDK fell back to);
  fastpath  the encoder `compile_encoder` generated for the record's schema.
Every round encodes every event with each, alternating which goes first; the best round of
each counts (the least disturbed by other work on a shared machine). The bytes are
checked equal first. Prints records/s of each and the ratio fastpath / fastavro.
"""

from __future__ import annotations

import argparse
import io
import itertools
import time
from collections.abc import Callable
from typing import Any

import fastavro

from ucwatch.schemas.catalog import SchemaVersion, default_catalog
from ucwatch.schemas.contract import EventContract
from ucwatch.schemas.fastpath import compile_encoder
from ucwatch.simulate import SimulationConfig, simulate

Work = list[tuple[Any, Callable[[dict[str, Any]], bytes], dict[str, Any]]]


def _work(events: int) -> Work:
    contract = EventContract(default_catalog())
    encoders: dict[SchemaVersion, Any] = {}
    work: Work = []
    for event in itertools.islice(simulate(SimulationConfig(seed=11, children=max(100, events // 14))), events):
        schema, record = contract.normalize(event)
        encoder = encoders.get(schema)
        if encoder is None:
            encoder = encoders[schema] = compile_encoder(schema.definition)
            assert encoder is not None, f"{schema.name} has no generated encoder"
        work.append((schema.parsed, encoder, record))
    return work


def _fastavro(work: Work) -> float:
    buffer = io.BytesIO()
    writer = fastavro.schemaless_writer
    started = time.perf_counter()
    for parsed, _, record in work:
        buffer.seek(0)
        buffer.truncate()
        writer(buffer, parsed, record)
        buffer.getvalue()
    return time.perf_counter() - started


def _fastpath(work: Work) -> float:
    started = time.perf_counter()
    for _, encode, record in work:
        encode(record)
    return time.perf_counter() - started


def _same_bytes(work: Work) -> None:
    for parsed, encode, record in work:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed, record)
        assert encode(record) == buffer.getvalue(), record


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = _work(args.events)
    _same_bytes(work)
    fastavro_s, fastpath_s = [], []
    for round_number in range(args.rounds):
        if round_number % 2:
            fastpath_s.append(_fastpath(work))
            fastavro_s.append(_fastavro(work))
        else:
            fastavro_s.append(_fastavro(work))
            fastpath_s.append(_fastpath(work))
    count = len(work)
    best_fastavro, best_fastpath = min(fastavro_s), min(fastpath_s)
    print(f"records: {count:,} simulated lifecycle events, {args.rounds} rounds, best round of each")
    print(f"{'encoder':<44}{'records/s':>12}")
    print(f"{'fastavro.schemaless_writer':<44}{count / best_fastavro:>12,.0f}")
    print(f"{'fastpath (generated per schema)':<44}{count / best_fastpath:>12,.0f}")
    print(f"ratio fastpath / fastavro: {best_fastavro / best_fastpath:.2f}x "
          f"(rounds: {', '.join(f'{a / b:.2f}' for a, b in zip(fastavro_s, fastpath_s, strict=True))})")


if __name__ == "__main__":
    main()
