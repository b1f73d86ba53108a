"""Throughput and watch latency of the Kubernetes API emulator (sedna.local.apiserver).

Starts the emulator as a subprocess on a free 127.0.0.1 port, then measures with an aiohttp client:
- create: ConfigMaps created per second (``--concurrency`` requests in flight);
- watch: with ``--watchers`` streams open during the creates, events delivered per second and the latency
  from sending a create request to each watcher receiving its ADDED event (p50/p99);
- list: objects listed per second (full list of ``--objects`` items, ``--lists`` times);
- patch: merge patches per second; delete: deletes per second;
- create_cr: upstream JointInferenceService creates per second (schema pruning/defaulting/validation).
Prints one JSON line per case.  Example: ``python bench/apiserver.py --objects 1000 --watchers 10``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

NS_PATH = "/api/v1/namespaces/default/configmaps"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def emit(case: str, **figures) -> None:
    print(json.dumps({"bench": "apiserver", "case": case, **figures}), flush=True)


async def run_bounded(count: int, concurrency: int, make):
    queue = iter(range(count))

    async def worker():
        for i in queue:
            await make(i)
    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def watcher(session, url, rv, expected, received, sent_at, latencies, ready):
    params = {"watch": "true", "resourceVersion": rv, "timeoutSeconds": "600"}
    async with session.get(url + NS_PATH, params=params, timeout=aiohttp.ClientTimeout(total=None)) as resp:
        ready.set_result(True) if not ready.done() else None
        count = 0
        async for line in resp.content:
            event = json.loads(line)
            if event["type"] != "ADDED":
                continue
            name = event["object"]["metadata"]["name"]
            latencies.append(time.perf_counter() - sent_at[name])
            count += 1
            if count == expected:
                break
    received.append(time.perf_counter())


async def bench(url: str, args) -> None:
    connector = aiohttp.TCPConnector(limit=args.concurrency + args.watchers + 4)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(url + NS_PATH) as resp:
            rv = (await resp.json())["metadata"]["resourceVersion"]
        sent_at: dict[str, float] = {}
        latencies: list[float] = []
        received: list[float] = []
        loop = asyncio.get_running_loop()
        readies = [loop.create_future() for _ in range(args.watchers)]
        watch_tasks = [asyncio.create_task(watcher(session, url, rv, args.objects, received, sent_at, latencies,
                                                   readies[i])) for i in range(args.watchers)]
        await asyncio.wait_for(asyncio.gather(*readies), 30)

        async def create(i):
            name = f"bench-{i:06d}"
            body = {"metadata": {"name": name, "labels": {"bench": "yes", "idx": str(i % 10)}},
                    "data": {"payload": "x" * args.payload}}
            sent_at[name] = time.perf_counter()
            async with session.post(url + NS_PATH, json=body) as resp:
                assert resp.status == 201, await resp.text()
                await resp.read()

        start = time.perf_counter()
        await run_bounded(args.objects, args.concurrency, create)
        elapsed = time.perf_counter() - start
        emit("create", objects=args.objects, concurrency=args.concurrency, seconds=round(elapsed, 3),
             objects_per_s=round(args.objects / elapsed, 1))
        await asyncio.wait_for(asyncio.gather(*watch_tasks), 300)
        delivered = args.objects * args.watchers
        watch_elapsed = max(received) - start
        emit("watch", objects=args.objects, watchers=args.watchers, events=delivered,
             seconds=round(watch_elapsed, 3), events_per_s=round(delivered / watch_elapsed, 1),
             latency_p50_ms=round(statistics.median(latencies) * 1000, 2),
             latency_p99_ms=round(percentile(latencies, 99) * 1000, 2))

        start = time.perf_counter()
        for _ in range(args.lists):
            async with session.get(url + NS_PATH, params={"labelSelector": "bench=yes"}) as resp:
                items = (await resp.json())["items"]
                assert len(items) == args.objects
        elapsed = time.perf_counter() - start
        emit("list", objects=args.objects, lists=args.lists, seconds=round(elapsed, 3),
             objects_per_s=round(args.objects * args.lists / elapsed, 1))

        async def patch(i):
            headers = {"Content-Type": "application/merge-patch+json"}
            async with session.patch(f"{url}{NS_PATH}/bench-{i:06d}", data=json.dumps(
                    {"metadata": {"annotations": {"touched": "yes"}}}), headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                await resp.read()

        start = time.perf_counter()
        await run_bounded(args.objects, args.concurrency, patch)
        elapsed = time.perf_counter() - start
        emit("patch", objects=args.objects, seconds=round(elapsed, 3), objects_per_s=round(args.objects / elapsed, 1))

        async def delete(i):
            async with session.delete(f"{url}{NS_PATH}/bench-{i:06d}") as resp:
                assert resp.status == 200, await resp.text()
                await resp.read()

        start = time.perf_counter()
        await run_bounded(args.objects, args.concurrency, delete)
        elapsed = time.perf_counter() - start
        emit("delete", objects=args.objects, seconds=round(elapsed, 3),
             objects_per_s=round(args.objects / elapsed, 1))

        await bench_custom_resources(session, url, args)


async def bench_custom_resources(session, url: str, args) -> None:
    """Creates of upstream JointInferenceServices: pruning, defaulting and validation against a 1.2 MB schema."""
    crd_path = Path(args.reference) / "crds" / "sedna.io_jointinferenceservices.yaml"
    sample_path = Path(args.reference) / "samples" / "jointinferenceservice_v1alpha1.yaml"
    if not crd_path.exists() or not sample_path.exists():
        emit("create_cr", skipped=f"no upstream CRD/sample under {args.reference}")
        return
    from sedna.api import yamlio
    crd = yamlio.load(crd_path.read_text())
    sample = yamlio.load(sample_path.read_text())
    async with session.post(url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd) as resp:
        assert resp.status in (201, 409), await resp.text()
    path = url + "/apis/sedna.io/v1alpha1/namespaces/default/jointinferenceservices"
    count = max(1, args.objects // 4)

    async def create(i):
        body = dict(sample, metadata={"name": f"ji-{i:06d}"})
        async with session.post(path, json=body) as resp:
            assert resp.status == 201, await resp.text()
            await resp.read()

    start = time.perf_counter()
    await run_bounded(count, args.concurrency, create)
    elapsed = time.perf_counter() - start
    emit("create_cr", kind="JointInferenceService", schema_bytes=crd_path.stat().st_size, objects=count,
         seconds=round(elapsed, 3), objects_per_s=round(count / elapsed, 1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--watchers", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--lists", type=int, default=20)
    parser.add_argument("--payload", type=int, default=256, help="bytes of data per object")
    parser.add_argument("--persist", action="store_true", help="run the server with a SQLite data dir")
    parser.add_argument("--url", help="benchmark an already running server instead of starting one")
    parser.add_argument("--reference", default=str(Path(__file__).resolve().parents[1].parent / "shared" /
                                                   "reference"),
                        help="upstream Sedna CRDs/samples for the custom resource case")
    args = parser.parse_args(argv)
    if args.url:
        asyncio.run(bench(args.url, args))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "sedna.local.apiserver", "--port", "0", "--insecure"]
        if args.persist:
            cmd += ["--data-dir", tmp]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline().strip()
            if not line.startswith("listening on "):
                raise SystemExit(f"the server did not start: {line!r}")
            asyncio.run(bench(line.split()[-1], args))
        finally:
            proc.terminate()
            proc.wait(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
