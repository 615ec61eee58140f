"""CPU per DynamoDB write on the local stack's emulator (moto in process, with the stack's
fixes in local/engram_local/moto_fixes.py), on the table template.yaml defines: PutItem of a
memory-sized item, then UpdateItem of one attribute. In the local stack every API write and
every worker write pays this on the cores the model and the API share, so it bounds the
POST /v1/memories latency and the embed worker's throughput there (on AWS it is a network
round trip instead). Prints a markdown table.

    .venv/bin/python bench/emulator.py [--writes 4000] [--rounds 3] [--quick]

--quick: 1000 writes, 1 round. Compare two commits by running it from each checkout with
PYTHONPATH=<checkout>/layers/core:<checkout>/local (the template is read from the same checkout).
"""

from __future__ import annotations

import argparse
import statistics
import time

from inprocess import isolate
from stack import cpu_note

isolate()

ITEM = {
    "PK": "WS#ws_bench",
    "content": "x" * 300,
    "tags": ["a", "b"],
    "metadata": {"source": "bench", "n": 1},
    "embedding_status": "pending",
}


def cpu_ms_per_write(writes: int) -> float:
    import boto3
    from moto import mock_aws

    from engram_local import moto_fixes
    from engram_local.resources import create_resources

    moto_fixes.apply()
    with mock_aws():
        made = create_resources(boto3.client("dynamodb"), boto3.client("sqs"), prefix="bench")
        table = boto3.resource("dynamodb").Table(made.tables["Table"])
        puts, updates = writes * 3 // 4, writes // 4
        for i in range(100):  # warm-up: clients, parsers, moto's lazy imports
            table.put_item(Item={**ITEM, "SK": f"MEM#{i}"})
        started = time.process_time()
        for i in range(puts):
            table.put_item(Item={**ITEM, "SK": f"MEM#{i}"})
        for i in range(updates):
            table.update_item(
                Key={"PK": ITEM["PK"], "SK": f"MEM#{i}"},
                UpdateExpression="SET version = :v",
                ExpressionAttributeValues={":v": i},
            )
        return (time.process_time() - started) * 1000 / (puts + updates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="= --writes 1000 --rounds 1")
    args = parser.parse_args()
    if args.quick:
        args.writes, args.rounds = 1000, 1
    samples = [cpu_ms_per_write(args.writes) for _ in range(args.rounds)]
    print(cpu_note())
    print(
        "\n| writes (3/4 PutItem, 1/4 UpdateItem) | rounds | CPU ms per write, median (min-max) |"
    )
    print("|---:|---:|---:|")
    print(
        f"| {args.writes} | {args.rounds} | {statistics.median(samples):.3f} "
        f"({min(samples):.3f}-{max(samples):.3f}) |"
    )


if __name__ == "__main__":
    main()
