"""Run the performance benches of issue 16 and print one table: each goal, our figure, the floor measured in
the same run, the ratio and whether the goal is met (medians of ``--repeat`` runs, with min–max).

Every bench is run as its own process (they start servers and workers of their own); their JSON lines are
also written to ``--json`` if given. ``--full`` adds the long cases (1,000 GM jobs, 8 × 200 MB FedAvg).

    python bench/run_all.py [--repeat 3] [--full] [--json results.jsonl]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def run(script: str, *args: str) -> list[dict]:
    """The JSON lines a bench prints (its other output goes to our stderr)."""
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], stdout=subprocess.PIPE, text=True,
                          cwd=BENCH.parent, check=False)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0:
        print(f"{script} {' '.join(args)} exited with {proc.returncode}", file=sys.stderr)
    return lines


def fmt(s: dict | None, unit: str = "") -> str:
    if not s:
        return "-"
    return f"{s['median']}{unit} [{s['min']}–{s['max']}]"


def rows_for(lines: list[dict], full: bool) -> list[tuple[str, str, str, str, str, bool | None]]:
    """(what, ours, floor, ratio, goal, met) per goal cell of the issue."""
    rows = []
    by = {}
    for line in lines:
        by.setdefault((line.get("bench"), line.get("case"), line.get("jobs") or line.get("size_mb")), line)
        by.setdefault((line.get("bench"), line.get("case")), line)
    gm = by.get(("gm_reconcile", "create", 200))
    if gm:
        rows.append(("GM 200 jobs → pods exist, p99 (s)", fmt(gm["job_p99_seconds"]),
                     fmt(gm["floor_job_p99_seconds"]), "-", "≤ 2 s", gm["job_p99_seconds"]["median"] <= 2))
        rows.append(("GM 200 jobs, total (s)", fmt(gm["total_seconds"]), fmt(gm["floor_total_seconds"]),
                     fmt(gm["ratio_total_vs_floor"]), "≤ 1.2× floor", gm["ratio_total_vs_floor"]["median"] <= 1.2))
    big = by.get(("gm_reconcile", "create", 1000))
    if gm and big:
        scale = round(big["total_seconds"]["median"] / gm["total_seconds"]["median"], 2)
        rows.append(("GM 1,000 vs 200 jobs, total", fmt(big["total_seconds"]), "-", f"{scale}×",
                     "≤ 5.5× the 200-job time", scale <= 5.5))
    api = by.get(("lc", "worker_api"))
    if api:
        rows.append(("LC worker report POST p50 (ms)", fmt(api["p50_ms"]), fmt(api["floor_bare_fastapi_p50_ms"]),
                     fmt(api["latency_ratio_vs_floor"]), "≤ 2× floor", api["latency_ratio_vs_floor"]["median"] <= 2))
        rows.append(("LC worker reports/s", fmt(api["reports_per_s"]), fmt(api["floor_bare_fastapi_reports_per_s"]),
                     fmt(api["throughput_ratio_vs_floor"]), "≥ 0.8 of floor",
                     api["throughput_ratio_vs_floor"]["median"] >= 0.8))
    chain = by.get(("lc", "upstream_gm"))
    if chain:
        live = chain["applied_to_cr_per_s"]
        live = live if isinstance(live, dict) else {"median": live, "min": live, "max": live}
        rows.append(("reports LC → GM → CR status (/s)", fmt(live), "-", "-", "≥ 500/s", live["median"] >= 500))
        if chain.get("backlog_drain_per_s"):
            rows.append(("  … LC outbox backlog drained to CR (/s)", fmt(chain["backlog_drain_per_s"]), "-", "-",
                         "≥ 500/s", chain["backlog_drain_per_s"]["median"] >= 500))
    for size in (50.0, 200.0):
        fl = by.get(("federated", None, size))
        if fl:
            rows.append((f"FedAvg {fl['clients']} × {size:g} MB, s/round", fmt(fl["seconds_per_round"]),
                         fmt(fl["floor_raw_tcp_numpy_seconds_per_round"]), fmt(fl["ratio_vs_floor"]),
                         "≤ 3× floor", fl["ratio_vs_floor"]["median"] <= 3))
            rows.append((f"FedAvg {fl['clients']} × {size:g} MB, aggregator peak RSS (MB)",
                         fmt(fl["server_peak_rss_mb"]), "-", "-", f"≤ {fl['rss_budget_mb']} MB",
                         fl["server_peak_rss_mb"]["median"] <= fl["rss_budget_mb"]))
    count = by.get(("lc", "dataset_count"))
    if count:
        rows.append(("LC dataset count, 1M lines (s)", fmt(count["seconds"]), fmt(count["floor_wc_l_seconds"]),
                     fmt(count["speed_ratio_vs_wc"]), "≥ 1.0× wc -l speed", count["speed_ratio_vs_wc"]["median"] >= 1))
    for line in lines:
        if line.get("bench") == "hem":
            rows.append((f"HEM {line['case']} calls/s", fmt(line["calls_per_s"]),
                         fmt(line["floor_upstream_calls_per_s"]), fmt(line["ratio_vs_floor"]),
                         "≥ 2× upstream's code", line["ratio_vs_floor"]["median"] >= 2))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="also 1,000 GM jobs and 8 x 200 MB FedAvg")
    parser.add_argument("--json", help="also write every JSON line here")
    args = parser.parse_args(argv)
    r = str(args.repeat)
    lines: list[dict] = []
    lines += run("hem.py", "--repeat", r)
    lines += run("lc.py", "--case", "dataset_count", "--repeat", r)
    lines += run("lc.py", "--case", "worker_api", "--repeat", r)
    lines += run("lc.py", "--case", "upstream_gm", "--gm-reports", "600", "--repeat", r)
    lines += run("federated.py", "--clients", "8", "--sizes", "50,200" if args.full else "50", "--repeat", r)
    lines += run("gm_reconcile.py", "--sizes", "200,1000" if args.full else "200", "--reports", "0", "--repeat", r,
                 "--timeout", "600")
    if args.json:
        Path(args.json).write_text("".join(json.dumps(line) + "\n" for line in lines))
    rows = rows_for(lines, args.full)
    header = ("what", "ours", "floor (same run)", "ratio", "goal", "met")
    table = [header] + [(w, o, f, q, g, "yes" if m else ("no" if m is not None else "-")) for w, o, f, q, g, m in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print(" | ".join(str(cell).ljust(widths[j]) for j, cell in enumerate(row)))
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
