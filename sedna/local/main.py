"""Handlers of ``sedna local up|down|status|apply|get|delete|logs``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from sedna.local import clusters, health
from sedna.local import state as st
from sedna.local.client import Client, ClientError, format_table, table_rows


def _data_dir(args) -> Path:
    return Path(args.data_dir).expanduser().resolve() if getattr(args, "data_dir", None) else \
        st.default_data_dir().resolve()


def _running(data_dir: Path) -> dict[str, Any] | None:
    state = st.read_state(data_dir)
    if state and st.alive(state.get("supervisor")):
        return state
    return None


def _say(text: str) -> None:
    print(text, flush=True)


# ---- up / down / status ---------------------------------------------------------------------------------

def cmd_up(args) -> int:
    data_dir = _data_dir(args)
    state = _running(data_dir)
    if state and state.get("ready"):
        _say(f"sedna local: already up (API {state['url']}, data dir {data_dir})")
        _print_access(state)
        return 0
    if state:
        _say(f"sedna local: a supervisor (pid {state['supervisor']['pid']}) is still starting; waiting")
        return _wait_ready(data_dir, state["supervisor"], args.timeout, None)
    stale = st.read_state(data_dir)
    if stale:
        _say("sedna local: cleaning up after a cluster that did not stop cleanly")
        for record in (stale.get("children") or {}).values():
            st.terminate(record, 5)
        st.state_path(data_dir).unlink(missing_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(exist_ok=True)
    try:
        octet = clusters.choose_octet(args.cluster_cidr, data_dir, len(args.nodes.split(",")), args.lc_port)
    except (clusters.AddressRangeInUse, ValueError) as exc:
        _say(f"sedna local: cannot start: {exc}")
        return 1
    cidr = f"127.{octet}.0.0/16"
    clusters.claim(octet, data_dir)
    if not args.cluster_cidr:
        _say(f"sedna local: using the free address range {cidr}")
    argv = [sys.executable, "-m", "sedna.local.supervisor", "--data-dir", str(data_dir), "--nodes", args.nodes,
            "--cluster-cidr", cidr, "--lc-port", str(args.lc_port), "--kb-server", args.kb_server]
    if args.api_port:
        argv += ["--api-port", str(args.api_port)]
    # leave `up` time to report the supervisor's verdict before its own --timeout runs out
    argv += ["--health-timeout", str(max(5.0, min(90.0, args.timeout - 20.0)))]
    if getattr(args, "restart_backoff", 10.0) != 10.0:
        argv += ["--restart-backoff", str(args.restart_backoff)]
    if args.image_map:
        argv += ["--image-map", str(Path(args.image_map).resolve())]
    if args.no_controllers:
        argv.append("--no-controllers")
    if getattr(args, "no_dashboard", False):
        argv.append("--no-dashboard")
    elif getattr(args, "dashboard_port", 0):
        argv += ["--dashboard-port", str(args.dashboard_port)]
    if getattr(args, "bare", False):
        argv.append("--bare")
    if args.crds_dir:
        argv += ["--crds-dir", str(Path(args.crds_dir).resolve())]
    if getattr(args, "insecure", False):
        argv.append("--insecure")
    if args.foreground:
        from sedna.local import supervisor

        return supervisor.main(argv[3:])
    _say(f"sedna local: starting a cluster with nodes {args.nodes} in {data_dir}")
    log_file = data_dir / "logs" / "supervisor.log"
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    rc = _wait_ready(data_dir, st.proc_record(proc.pid), args.timeout, proc)
    if rc != 0 and not st.read_state(data_dir):
        clusters.release(data_dir)          # it did not come up: its address range is free again
    return rc


def _wait_ready(data_dir: Path, record: dict[str, Any], timeout: float, proc) -> int:
    deadline = time.monotonic() + timeout
    shown = False
    phase = ""
    while time.monotonic() < deadline:
        state = st.read_state(data_dir)
        if state and state.get("supervisor", {}).get("pid") == record["pid"]:
            if state.get("url") and not shown:
                _say(f"sedna local: API server at {state['url']}")
                shown = True
            if state.get("phase") and state["phase"] != phase and not state.get("ready"):
                phase = state["phase"]
                _say(f"sedna local: {phase}")
            if state.get("ready"):
                _say(f"sedna local: up: nodes {', '.join(n['name'] for n in state['nodes'])}")
                ctl = state.get("controllers") or {}
                if ctl.get("enabled"):
                    _say(f"sedna local: GM at {ctl['gm']}, one LC per node on port {ctl['lc_port']}")
                else:
                    _say(f"sedna local: GM/LC not started ({ctl.get('reason', 'disabled')})")
                _print_access(state)
                return 0
        exited = proc.poll() is not None if proc is not None else not st.alive(record)
        if exited:
            break
        time.sleep(0.2)
    log_file = data_dir / "logs" / "supervisor.log"
    text = log_file.read_text(errors="replace") if log_file.exists() else ""
    reason = [ln.split("cluster failed to start: ", 1)[1] for ln in text.splitlines()
              if "cluster failed to start: " in ln]
    if reason:
        _say(f"sedna local: the cluster did not come up: {reason[-1]}")
    _say(f"sedna local: the cluster did not come up; supervisor log ({log_file}):\n{text[-3000:]}")
    return 1


def _print_access(state: dict[str, Any]) -> None:
    if (state.get("dashboard") or {}).get("url"):
        _say(f"sedna local: dashboard at {state['dashboard']['url']}")
    _say(f"export KUBECONFIG={state['kubeconfig']}")


def cmd_down(args) -> int:
    data_dir = _data_dir(args)
    state = st.read_state(data_dir)
    if not state:
        _say("sedna local: not running")
        killed = st.kill_pod_leftovers(data_dir) if data_dir.exists() else 0
        if killed:
            _say(f"sedna local: killed {killed} leftover pod process group(s)")
    else:
        _say("sedna local: stopping the cluster")
        st.terminate(state.get("supervisor") or {}, 60)
        for name, record in (state.get("children") or {}).items():
            if st.terminate(record, 5):
                _say(f"sedna local: stopped leftover {name}")
        st.kill_pod_leftovers(data_dir)
        st.state_path(data_dir).unlink(missing_ok=True)
        _say("sedna local: down")
    clusters.release(data_dir)
    if args.purge and data_dir.exists():
        shutil.rmtree(data_dir)
        _say(f"sedna local: removed {data_dir}")
    return 0


def cmd_status(args) -> int:
    data_dir = _data_dir(args)
    state = _running(data_dir)
    if not state:
        _say(f"sedna local: not running (data dir {data_dir})")
        stale = st.read_state(data_dir) or {}
        left = sorted(name for name, rec in (stale.get("children") or {}).items() if st.alive(rec))
        if left:
            _say(f"sedna local: the supervisor is gone but {', '.join(left)} still run: "
                 "`sedna local down` stops them")
        return 1
    _say(f"sedna local: {'up' if state.get('ready') else 'starting'} — API {state['url']}, "
         f"supervisor pid {state['supervisor']['pid']}, data dir {data_dir}")
    _say(f"kubeconfig: {state['kubeconfig']}")
    rows = [["COMPONENT", "HEALTHY", "DETAIL"]]
    components = health.check(state)
    for comp in components:
        rows.append([comp.name, "yes" if comp.healthy else "NO", comp.detail])
    _say(format_table(rows))
    unhealthy = health.first_problem(components) is not None
    rows = [["PROCESS", "PID", "ALIVE", "RESTARTS"]]
    for name, record in sorted((state.get("children") or {}).items()):
        rows.append([name, str(record.get("pid")), "yes" if st.alive(record) else "no",
                     str(record.get("restarts", 0))])
    _say(format_table(rows))
    client = _state_client(state)
    try:
        nodes = client.json("GET", "/api/v1/nodes").get("items") or []
        pods = client.json("GET", "/api/v1/pods").get("items") or []
    except ClientError as exc:
        _say(f"API server not answering: {exc}")
        return 1
    finally:
        client.close()
    rows = [["NODE", "STATUS", "ADDRESS", "POD-CIDR", "PODS"]]
    for node in nodes:
        name = node["metadata"]["name"]
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (node.get("status") or {}).get("conditions") or [])
        addr = next((a["address"] for a in (node.get("status") or {}).get("addresses") or []
                     if a.get("type") == "InternalIP"), "")
        count = sum(1 for p in pods if (p.get("spec") or {}).get("nodeName") == name)
        rows.append([name, "Ready" if ready else "NotReady", addr, (node.get("spec") or {}).get("podCIDR", ""),
                     str(count)])
    _say(format_table(rows))
    phases: dict[str, int] = {}
    for pod in pods:
        phase = (pod.get("status") or {}).get("phase", "Unknown")
        phases[phase] = phases.get(phase, 0) + 1
    _say("pods: " + (", ".join(f"{n} {p}" for p, n in sorted(phases.items())) or "none"))
    return 1 if unhealthy else 0


# ---- API commands ---------------------------------------------------------------------------------------

def _client(args) -> Client:
    data_dir = _data_dir(args)
    state = _running(data_dir)
    if not state or not state.get("url"):
        raise ClientError(f"no cluster is running in {data_dir} (run: sedna local up)")
    return _state_client(state)


def _state_client(state: dict[str, Any]) -> Client:
    """A client with the bearer token of the cluster's kubeconfig."""
    from sedna.local.apiserver import kubeconfig_token

    try:
        token = kubeconfig_token(state["kubeconfig"])
    except (OSError, KeyError):
        token = ""
    return Client(state["url"], token=token)


def _load_documents(filename: str) -> list[Any]:
    text = sys.stdin.read() if filename == "-" else Path(filename).read_text()
    try:
        from sedna.api.yamlio import load_all
    except ImportError:
        return list(yaml.safe_load_all(text))
    return list(load_all(text))


FIELD_VALIDATION = {"strict": "Strict", "true": "Strict", "warn": "Warn", "ignore": "Ignore", "false": "Ignore"}


def cmd_apply(args) -> int:
    client = _client(args)
    failed = 0
    validation = FIELD_VALIDATION[getattr(args, "validate", "strict")]
    try:
        for filename in args.filename:
            try:
                docs = _load_documents(filename)
            except (OSError, yaml.YAMLError, ValueError) as exc:
                _say(f"error: {filename}: {exc}")
                failed += 1
                continue
            expanded: list[Any] = []
            for doc in docs:
                if isinstance(doc, dict) and doc.get("kind") == "List":
                    expanded.extend(doc.get("items") or [])
                elif doc is not None:
                    expanded.append(doc)
            for doc in expanded:
                what = f"{str(doc.get('kind', '?')).lower()}/{(doc.get('metadata') or {}).get('name', '?')}" \
                    if isinstance(doc, dict) else "?"
                warnings: list[str] = []
                try:
                    result = client.apply(doc, args.namespace, validation, warnings)
                except ClientError as exc:
                    _say(f"error: {filename}: {what}: {exc}")
                    failed += 1
                    continue
                for warning in dict.fromkeys(warnings):
                    print(f"Warning: {what}: {warning}", file=sys.stderr)
                _say(f"{what} {result}")
    finally:
        client.close()
    return 1 if failed else 0


def cmd_get(args) -> int:
    client = _client(args)
    try:
        res = client.resolve(args.kind)
        ns = None if args.all_namespaces and not args.name else args.namespace
        if args.output in ("yaml", "json"):
            obj = client.get(res, ns, args.name)
            if args.output == "json":
                _say(json.dumps(obj, indent=2))
            else:
                _say(yaml.safe_dump(obj, sort_keys=False, default_flow_style=False).rstrip())
            return 0
        if args.output == "name":
            obj = client.get(res, ns, args.name)
            for item in obj.get("items") if "items" in obj else [obj]:
                _say(f"{res.plural if not res.group else res.plural + '.' + res.group}/{item['metadata']['name']}")
            return 0
        obj = client.get(res, ns, args.name, table=True)
        rows = table_rows(obj, args.output == "wide", args.all_namespaces and res.namespaced and not args.name)
        if len(rows) <= 1:
            where = "" if args.all_namespaces or not res.namespaced else f" in {ns} namespace"
            _say(f"No resources found{where}.")
            return 0
        _say(format_table(rows))
        return 0
    finally:
        client.close()


def cmd_delete(args) -> int:
    client = _client(args)
    try:
        res = client.resolve(args.kind)
        for name in args.names:
            client.delete(res, args.namespace, name)
            _say(f'{res.kind.lower()} "{name}" deleted')
        return 0
    finally:
        client.close()


def cmd_logs(args) -> int:
    client = _client(args)
    try:
        if args.follow:
            try:
                client.follow_logs(args.namespace, args.pod, args.container, sys.stdout)
            except KeyboardInterrupt:
                pass
            return 0
        sys.stdout.write(client.logs(args.namespace, args.pod, args.container))
        sys.stdout.flush()
        return 0
    finally:
        client.close()


def cmd_example(args) -> int:
    from sedna.local.examples import runner
    from sedna.local.examples.spec import SpecError, discover

    try:
        specs = discover()
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.example_command == "list":
        _say(runner.list_examples(specs))
        return 0
    if args.name not in specs:
        print(f"error: no example {args.name!r}; known: {', '.join(sorted(specs))}", file=sys.stderr)
        return 2
    # a cluster started for one example has every example's nodes, so the next example can reuse it
    args.cluster_nodes = [node for spec in specs.values() for node in spec.nodes]
    return runner.run(specs[args.name], _data_dir(args), args)


HANDLERS = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "apply": cmd_apply, "get": cmd_get,
            "delete": cmd_delete, "logs": cmd_logs, "example": cmd_example}


def run(args) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        return HANDLERS[args.local_command](args)
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:            # `sedna local get pods | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def chart_values(files: list[str], pairs: list[str]) -> dict[str, Any]:
    """User values as Helm combines them: each ``-f`` file in order, then ``--set``."""
    from sedna.local.chart import ChartError, merge_values, parse_set

    values: dict[str, Any] = {}
    for name in files:
        try:
            doc = yaml.safe_load(Path(name).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ChartError(f"values file {name}: {exc}") from None
        if not isinstance(doc, dict):
            raise ChartError(f"values file {name}: expected a mapping")
        values = merge_values(values, doc)
    return merge_values(values, parse_set(pairs))


def cmd_install_chart(args) -> int:
    from sedna.local.chart import ChartError, install, render

    try:
        rendered = render(args.chart, chart_values(args.values, args.set), args.release, args.namespace)
    except ChartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.dry_run:
        objs = rendered.objects() if args.include_crds else rendered.manifests
        print(yaml.safe_dump_all(objs, sort_keys=False), end="")
        return 0
    client = _client(args)
    try:
        for what, result in install(client, rendered, args.namespace):
            _say(f"{what} {result}")
    finally:
        client.close()
    if rendered.notes:
        _say("\n" + rendered.notes.strip())
    return 0


HANDLERS["install-chart"] = cmd_install_chart


def cmd_helm_e2e(args) -> int:
    from sedna.local import helm_e2e

    return helm_e2e.run(helm_e2e.Options(
        data_dir=_data_dir(args), chart=Path(args.chart).resolve(), example=Path(args.example).resolve(),
        namespace=args.namespace, frames=args.frames, timeout=args.timeout, cluster_cidr=args.cluster_cidr,
        lc_port=args.lc_port, keep=args.keep, set_values=tuple(args.set)))


HANDLERS["helm-e2e"] = cmd_helm_e2e
