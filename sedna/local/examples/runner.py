"""``sedna local example run NAME``: carry out one example's declaration on the single-machine cluster.

Order of work: prepare the data (seeded generator, cached by its command line) → bring the cluster up if it is
not (or check the running one has the example's nodes) → delete the target of an earlier run and wait for its
pods to go → empty the ``clean`` paths, place the prepared files → apply the manifests (the image map rides
along as each pod template's ``local.sedna.io/image-map`` annotation, so a cluster started without it works)
→ watch: place the files whose ``when`` holds, show progress, stop at success, failure or timeout → print the
CR's terminal status and the outputs. Exit 0 only on success; otherwise the failing condition, the pod and its
last log lines are printed and the exit code is 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sedna.local import state as st
from sedna.local.client import Client, ClientError
from sedna.local.examples import conditions as cd
from sedna.local.examples.spec import Condition, ExampleSpec, FileCopy

LOG = logging.getLogger(__name__)
LOG_TAIL = 20


class RunError(RuntimeError):
    """The example cannot run (cluster, data or manifests); the message says what to do."""


def node_path(data_dir: Path, spec: str) -> Path:
    """``edge-node:/joint_inference/video`` -> ``<data dir>/nodes/edge-node/joint_inference/video``."""
    node, _, path = spec.partition(":")
    return data_dir / "nodes" / node / path.lstrip("/")


def _say(text: str = "") -> None:
    print(text, flush=True)


# ---- data ---------------------------------------------------------------------------------------------

def scripts_digest(folder: Path) -> str:
    """Changes when a Python file of the example changes (the generator and what it imports)."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def prepare(spec: ExampleSpec, work: Path) -> Path:
    """Run the generator once per distinct command line; returns the prepared dir."""
    out = work / "prepared"
    if spec.prepare is None:
        out.mkdir(parents=True, exist_ok=True)
        return out
    argv = [str(out) if a == "{out}" else a.replace("{out}", str(out)) for a in spec.prepare.command]
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    stamp = work / "prepared.json"
    key = {"command": spec.prepare.command, "scripts": scripts_digest(spec.folder)}
    if out.is_dir() and stamp.exists() and json.loads(stamp.read_text()) == key:
        _say(f"==> reusing the prepared data ({out})")
        return out
    shutil.rmtree(out, ignore_errors=True)
    stamp.unlink(missing_ok=True)
    out.mkdir(parents=True)
    _say(f"==> preparing the data: {' '.join(spec.prepare.command)} (in {spec.folder})")
    done = subprocess.run(argv, cwd=spec.folder, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RunError(f"the generator failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}")
    stamp.write_text(json.dumps(key))
    return out


def place(copy: FileCopy, prepared: Path, data_dir: Path) -> int:
    """Copy a file, or a folder's contents, onto a node path; returns the number of files copied."""
    src = prepared / copy.from_
    dst = node_path(data_dir, copy.to)
    if src.is_dir():
        dst.mkdir(parents=True, exist_ok=True)
        count = 0
        for item in sorted(src.iterdir()):
            if item.is_dir():
                shutil.copytree(item, dst / item.name, dirs_exist_ok=True)
            else:
                shutil.copy2(item, dst / item.name)
            count += 1
        return count
    if not src.exists():
        raise RunError(f"prepare.files: {copy.from_} was not produced by the generator ({prepared})")
    if copy.to.endswith("/"):
        dst = dst / src.name
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
    return 1


# ---- cluster ------------------------------------------------------------------------------------------

def ensure_cluster(spec: ExampleSpec, data_dir: Path, opts: argparse.Namespace) -> dict[str, Any]:
    state = st.read_state(data_dir)
    if not (state and st.alive(state.get("supervisor")) and state.get("ready")):
        from sedna.local.main import cmd_up

        _say(f"==> starting the single-machine cluster ({data_dir})")
        nodes = list(dict.fromkeys([*spec.nodes, *getattr(opts, "cluster_nodes", [])]))
        up = argparse.Namespace(
            data_dir=str(data_dir), nodes=",".join(nodes), no_controllers=False, image_map="",
            cluster_cidr=opts.cluster_cidr, api_port=0, lc_port=opts.lc_port, crds_dir="",
            kb_server=opts.kb_server, foreground=False, timeout=180.0)
        if cmd_up(up) != 0:
            raise RunError("the cluster did not come up (see the supervisor log above)")
        state = st.read_state(data_dir) or {}
    else:
        _say(f"==> reusing the cluster running in {data_dir}")
    have = {n["name"] for n in state.get("nodes") or []}
    problems = []
    if not set(spec.nodes) <= have:
        problems.append(f"its nodes are {sorted(have)}; this example needs {spec.nodes}")
    if not (state.get("controllers") or {}).get("enabled"):
        problems.append("it runs without the GM and the LCs")
    if problems:
        raise RunError(f"the cluster in {data_dir} cannot run {spec.name}: {'; '.join(problems)}. Stop it "
                       f"(sedna local --data-dir {data_dir} down) or choose another --data-dir.")
    return state


# ---- manifests ----------------------------------------------------------------------------------------

def image_map_annotation(path: Path, override: str = "") -> str:
    """The example's image map, with the entries of ``override`` (a user's image map file) winning."""
    from sedna.local.runtime.images import load_image_map

    imap = load_image_map(str(path))
    if override:
        imap = imap.merged(load_image_map(override))
    entries = {}
    for image, e in imap.entries.items():
        entry: dict[str, Any] = {"entrypoint": e.entrypoint, "cmd": e.cmd, "workingDir": e.working_dir,
                                 "env": e.env, "paths": e.paths}
        if e.python:
            entry["python"] = e.python
        entries[image] = entry
    return json.dumps({"images": entries})


def annotate_templates(doc: Any, key: str, value: str) -> int:
    """Add an annotation to every pod template (``template: {spec: {containers: ...}}``) in ``doc``."""
    count = 0
    if isinstance(doc, dict):
        tpl = doc.get("template")
        if isinstance(tpl, dict) and isinstance(tpl.get("spec"), dict) and "containers" in tpl["spec"]:
            meta = tpl.get("metadata") or {}
            tpl["metadata"] = meta
            meta.setdefault("annotations", {})[key] = value
            count += 1
        for k, v in doc.items():
            if k != "template":
                count += annotate_templates(v, key, value)
    elif isinstance(doc, list):
        count += sum(annotate_templates(v, key, value) for v in doc)
    return count


def manifests(spec: ExampleSpec, image_map: str = "") -> list[dict[str, Any]]:
    from sedna.api.yamlio import load_all
    from sedna.local.runtime.images import ANNOTATION

    annotation = image_map_annotation(spec.folder / spec.imageMap, image_map)
    docs = []
    for rel in spec.manifests:
        for doc in load_all((spec.folder / rel).read_text()):
            if isinstance(doc, dict):
                annotate_templates(doc, ANNOTATION, annotation)
                docs.append(doc)
    return docs


# ---- watching -----------------------------------------------------------------------------------------

class Watcher:
    """Observes the target, its pods, the files and logs the conditions ask about."""

    def __init__(self, spec: ExampleSpec, client: Client, data_dir: Path):
        self.spec, self.client, self.data_dir = spec, client, data_dir
        self.res = client.resolve(spec.target.kind)

    def target(self) -> dict[str, Any] | None:
        resp = self.client.request("GET", self.res.path(self.spec.target.namespace, self.spec.target.name))
        return resp.json() if resp.status_code == 200 else None

    def pods(self) -> list[dict[str, Any]]:
        """The pods of the target and of the ``also`` objects."""
        items: list[dict[str, Any]] = []
        for t in [self.spec.target, *self.spec.also]:
            sel = f"{t.kind.lower()}.sedna.io/name={t.name}"
            items += self.client.json("GET", f"/api/v1/namespaces/{t.namespace}/pods",
                                      params={"labelSelector": sel}).get("items") or []
        return sorted(items, key=lambda p: p["metadata"].get("creationTimestamp", ""))

    def count(self, where: str) -> int:
        base = node_path(self.data_dir, where)
        if base.is_dir():
            return sum(1 for p in base.iterdir() if p.is_file())
        parent, pattern = base.parent, base.name
        return sum(1 for p in parent.glob(pattern) if p.is_file()) if parent.is_dir() else 0

    def log(self, pod: str) -> str:
        try:
            return self.client.logs(self.spec.target.namespace, pod)
        except ClientError:
            return ""

    def observe(self, conds: list[Condition]) -> cd.Observation:
        obs = cd.Observation(target=self.target(), pods=self.pods(), worker_label=self.spec.worker_label)
        for c in conds:
            if c.files is not None:
                obs.files[c.files] = self.count(c.files)
            if c.log is not None:
                for pod in cd.pods_of(obs, c.log):
                    name = pod["metadata"]["name"]
                    if name not in obs.logs:
                        obs.logs[name] = self.log(name)
        if self.spec.bar and self.spec.bar.files:
            obs.files[self.spec.bar.files] = self.count(self.spec.bar.files)
        return obs


def pod_summary(spec: ExampleSpec, pods: list[dict[str, Any]]) -> str:
    parts = []
    for p in pods:
        status = p.get("status") or {}
        labels = p["metadata"].get("labels") or {}
        kind = labels.get(spec.worker_label) or next(
            (v for k, v in labels.items() if k.endswith(".sedna.io/worker-type")), "?")
        waiting = next((((cs.get("state") or {}).get("waiting") or {}).get("reason")
                        for cs in status.get("containerStatuses") or []
                        if (cs.get("state") or {}).get("waiting")), None)
        parts.append(f"{kind}:{waiting or status.get('phase', 'Pending')}{'+ready' if cd.is_ready(p) else ''}")
    return " ".join(parts) or "no pods"


def progress_text(spec: ExampleSpec, obs: cd.Observation) -> str:
    fields = []
    for label, path in spec.progress.items():
        value = cd.lookup(obs.target, path) if obs.target else None
        if value is not None:
            fields.append(f"{label}={value}")
    fields.append(pod_summary(spec, obs.pods))
    return " | ".join(fields)


def bar_value(spec: ExampleSpec, obs: cd.Observation, unmet: list[Condition]) -> int:
    if spec.bar is None:
        return len(spec.success) - len(unmet)
    if spec.bar.files:
        return obs.files.get(spec.bar.files, 0)
    try:
        return int(float(cd.lookup(obs.target, spec.bar.field or "") or 0))
    except (TypeError, ValueError):
        return 0


def reset(spec: ExampleSpec, client: Client, watcher: Watcher, docs: list[dict[str, Any]], timeout: float) -> None:
    """Delete what an earlier run of the example left (every object of its manifests but namespaces, so the
    LCs forget their dataset counts too) and wait until it and the target's pods are gone."""
    found = []
    for doc in reversed(docs):
        if doc.get("kind") == "Namespace":
            continue
        res = client.for_object(doc)
        meta = doc.get("metadata") or {}
        ns = (meta.get("namespace") or spec.target.namespace) if res.namespaced else None
        resp = client.request("GET", res.path(ns, meta.get("name")))
        if resp.status_code == 200:
            found.append((res, ns, meta.get("name")))
    if found:
        _say(f"==> deleting {len(found)} object(s) of an earlier run")
    for res, ns, name in found:
        client.delete(res, ns, name)
    deadline = time.monotonic() + timeout
    while any(client.request("GET", res.path(ns, name)).status_code == 200 for res, ns, name in found) \
            or watcher.pods():
        if time.monotonic() > deadline:
            raise RunError("the earlier run's objects did not go away: " + pod_summary(spec, watcher.pods()))
        time.sleep(0.5)


def _tail(text: str, lines: int = LOG_TAIL) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines()[-lines:])


def report_failure(spec: ExampleSpec, watcher: Watcher, obs: cd.Observation, why: str,
                   unmet: list[Condition]) -> None:
    _say(f"\nFAILED: example {spec.name}: {why}")
    for c in unmet:
        _say(f"  not met: {cd.describe(c)} (observed: {cd.value_of(c, obs)!r})")
    if obs.target is not None:
        conds = (obs.target.get("status") or {}).get("conditions") or []
        if conds:
            last = conds[-1]
            _say(f"  {spec.target.kind} last condition: {last.get('type')} {last.get('reason', '')} "
                 f"{last.get('message', '')}".rstrip())
    broken = cd.broken_pod(obs.pods)
    names = [broken[0]] if broken else [p["metadata"]["name"] for p in obs.pods
                                         if (p.get("status") or {}).get("phase") != "Succeeded"]
    for name in names or [p["metadata"]["name"] for p in obs.pods]:
        _say(f"\n  pod {name}: last log lines\n{_tail(watcher.log(name)) or '    (empty log)'}")


def shown(value: Any) -> str:
    """A reported value on one line: strings as they are (JSON text compacted), the rest as JSON."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
        if isinstance(value, str):
            return value
    return json.dumps(value, separators=(",", ":"))


def report_success(spec: ExampleSpec, obs: cd.Observation, data_dir: Path, started: float,
                   applied: float) -> None:
    status = (obs.target or {}).get("status") or {}
    conds = status.get("conditions") or []
    now = time.monotonic()
    _say(f"\n==> {spec.target.kind.lower()}/{spec.target.name}: success in {now - started:.0f} s "
         f"({now - applied:.0f} s after apply)")
    if conds:
        last = conds[-1]
        stage = f" (stage {last['stage']})" if last.get("stage") else ""
        _say(f"  condition            {last.get('type')}{stage}")
    for label, path in spec.report.items():
        _say(f"  {label:<20} {shown(cd.lookup(obs.target, path))}")
    for c in spec.success:
        _say(f"  met: {cd.describe(c)}")
    if spec.outputs:
        _say("\noutputs:")
        for out in spec.outputs:
            path = node_path(data_dir, out.path)
            n = sum(1 for p in path.rglob("*") if p.is_file()) if path.is_dir() else int(path.exists())
            _say(f"  {path}  ({n} files{'; ' + out.what if out.what else ''})")
    _say("\npods (logs: sedna local --data-dir DIR logs POD):")
    for p in obs.pods:
        _say(f"  {p['metadata']['name']}  on {p['spec'].get('nodeName')}  {(p.get('status') or {}).get('phase')}")


# ---- the run ------------------------------------------------------------------------------------------

def run(spec: ExampleSpec, data_dir: Path, opts: argparse.Namespace) -> int:
    from tqdm import tqdm

    started = time.monotonic()
    timeout = opts.timeout or spec.timeout
    try:
        prepared = prepare(spec, data_dir / "examples" / spec.name)
        state = ensure_cluster(spec, data_dir, opts)
    except RunError as exc:
        _say(f"FAILED: example {spec.name}: {exc}")
        return 1
    from sedna.local.main import _state_client

    client = _state_client(state)
    try:
        watcher = Watcher(spec, client, data_dir)
        docs = manifests(spec, getattr(opts, "image_map", ""))
        reset(spec, client, watcher, docs, 120)
        for path in spec.clean:
            target = node_path(data_dir, path)
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True, exist_ok=True)
        later = []
        for copy in spec.prepare.files if spec.prepare else []:
            if copy.when:
                later.append(copy)
            else:
                place(copy, prepared, data_dir)
        _say(f"==> applying {', '.join(spec.manifests)}")
        for doc in docs:
            what = f"{doc.get('kind', '?').lower()}/{(doc.get('metadata') or {}).get('name', '?')}"
            _say(f"  {what} {client.apply(doc, spec.target.namespace)}")
        watched = [*spec.success, *spec.failure, *(c for copy in later for c in copy.when)]
        total = spec.bar.total if spec.bar else len(spec.success)
        unit = spec.bar.unit if spec.bar else "conditions"
        applied = time.monotonic()
        deadline = applied + timeout
        tty = sys.stdout.isatty()
        with tqdm(total=total, unit=unit, file=sys.stdout, dynamic_ncols=True, mininterval=0.5 if tty else 10.0,
                  bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}]{postfix}") as bar:
            while True:
                obs = watcher.observe(watched)
                for copy in list(later):
                    if all(cd.holds(c, obs) for c in copy.when):
                        n = place(copy, prepared, data_dir)
                        bar.write(f"==> placed {n} file(s) on {copy.to} ({', '.join(map(cd.describe, copy.when))})")
                        later.remove(copy)
                outcome, unmet, why = cd.verdict(spec.success, spec.failure, obs)
                bar.set_postfix_str(progress_text(spec, obs), refresh=False)
                bar.update(min(bar_value(spec, obs, unmet), total) - bar.n)
                if outcome != "waiting" or time.monotonic() > deadline:
                    break
                time.sleep(opts.poll)
        if outcome == "success":
            report_success(spec, obs, data_dir, started, applied)
            code = 0
        else:
            report_failure(spec, watcher, obs, why or f"timed out after {timeout:.0f} s", unmet)
            code = 1
    except (RunError, ClientError) as exc:
        _say(f"FAILED: example {spec.name}: {exc}")
        code = 1
    finally:
        client.close()
    if opts.down:
        from sedna.local.main import cmd_down

        cmd_down(argparse.Namespace(data_dir=str(data_dir), purge=False))
    else:
        _say(f"\nThe cluster is still up: export KUBECONFIG={data_dir}/kubeconfig; "
             f"sedna local --data-dir {data_dir} get pods; sedna local --data-dir {data_dir} down")
    return code


def list_examples(specs: dict[str, ExampleSpec]) -> str:
    width = max((len(n) for n in specs), default=4)
    lines = [f"{name:<{width}}  {spec.description}" for name, spec in sorted(specs.items())]
    return "\n".join(lines)
