"""faust's own ceiling on this machine: a faust app that takes the lifecycle topic in
batches and decodes each record, sending nothing and keeping no table.

    python -m bench.faust_bare --bootstrap HOST:PORT --topic LIFECYCLE --app-id GROUP
                               [--transport kafka|confluent] [--batch 500]

Run by bench/detect_bench.py as a process of its own, measured like the worker: by the
offsets its group commits. ``--transport confluent`` uses faust-streaming's librdkafka
driver (`confluent://`) instead of aiokafka (`kafka://`).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import faust
import uvloop

from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder


def build(bootstrap: str, topic_name: str, app_id: str, *, transport: str, batch: int, datadir: str) -> faust.App:
    app = faust.App(app_id, broker=f"{transport}://{bootstrap}", store="memory://", datadir=datadir,
                    web_enabled=False, processing_guarantee="at_least_once", consumer_auto_offset_reset="earliest",
                    broker_commit_every=1000, broker_commit_interval=1.0, topic_partitions=6)
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    catalog = default_catalog()
    decoder = Decoder(EmbeddedRegistry(catalog), catalog)

    @app.agent(topic, name="bare")
    async def bare(stream: Any) -> None:
        async for events in stream.take_events(batch, within=0.1):
            for event in events:
                decoder.decode_named(event.message.value)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--transport", choices=["kafka", "confluent"], default="kafka")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--datadir", default="/tmp/ucwatch-faust-bare")
    parser.add_argument("--loglevel", default="WARNING")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    if args.loop == "uvloop":  # as the worker runs (streams/worker.py)
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = build(args.bootstrap, args.topic, args.app_id, transport=args.transport, batch=args.batch,
                datadir=args.datadir)
    worker = faust.Worker(app, loglevel=args.loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
