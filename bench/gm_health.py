"""GM benchmark: cost of deriving worker health from observed pods (sedna.gm.controllers.health).

Every sync of every CR runs ``summarize`` over the CR's pods, so it must stay small next to the list call that
fetched them. One JSON line: pods per second through ``summarize`` for a mix of pod shapes (running, crash
looping, unschedulable, on a missing node, failed), the floor measured in the same run (a loop that only reads
each pod's phase and container statuses) and their ratio.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone

from sedna.gm.controllers import health

NOW = datetime(2026, 1, 1, 12, 0, 30, tzinfo=timezone.utc)


def shapes() -> list[dict]:
    running = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [
        {"name": "w", "ready": True, "restartCount": 0, "state": {"running": {"startedAt": "2026-01-01T12:00:00Z"}}}]}
    crash = {"phase": "Running", "containerStatuses": [
        {"name": "w", "ready": False, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}}}]}
    unsched = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                   "reason": "Unschedulable", "message": "0/2 nodes"}]}
    failed = {"phase": "Failed", "containerStatuses": [
        {"name": "w", "restartCount": 0, "state": {"terminated": {"exitCode": 5, "reason": "Error"}}}]}
    out = []
    for i, (st, node) in enumerate([(running, "edge-1"), (crash, "edge-1"), (unsched, ""), ({"phase": "Pending"},
                                                                                              "ghost"),
                                    (failed, "edge-1")]):
        out.append({"metadata": {"name": f"p{i}", "labels": {"x.sedna.io/worker-type": "w"}},
                    "spec": {"nodeName": node} if node else {}, "status": st})
    return out


def floor(pods: list[dict]) -> int:
    n = 0
    for pod in pods:
        status = pod.get("status") or {}
        n += len(status.get("phase") or "") + len(status.get("containerStatuses") or [])
    return n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pods", type=int, default=20000)
    args = p.parse_args()
    base = shapes()
    pods = [base[i % len(base)] for i in range(args.pods)]
    nodes = {"edge-1", "cloud-1"}
    start = time.perf_counter()
    summary = health.summarize(pods, nodes, NOW)
    took = time.perf_counter() - start
    start = time.perf_counter()
    floor(pods)
    floor_took = time.perf_counter() - start
    rate, floor_rate = args.pods / took, args.pods / max(floor_took, 1e-9)
    print(json.dumps({"case": "health_summarize", "pods": args.pods, "pods_per_s": round(rate),
                      "floor_pods_per_s": round(floor_rate), "ratio": round(floor_rate / rate, 1),
                      "failed": summary.failed, "active": summary.active}), flush=True)


if __name__ == "__main__":
    main()
