#!/usr/bin/env bash
# The helmet-detection JointInferenceService on a single-machine cluster, end to end:
#   1. the example's generator makes the models and the frames (seeded, nothing downloaded);
#   2. `sedna local up --nodes cloud-node,edge-node` (API emulator, runtime, GM, one LC per node) with the
#      example's image map, so the worker "images" run little_model.py / big_model.py;
#   3. models go to each node's /joint_inference/models, the example YAML is applied, and once the cloud
#      worker is ready the frames are fed to the edge worker's video folder;
#   4. waits (with a progress display) until the edge worker has processed every frame and the LC's report
#      shows it in the CR status, prints that status and where the outputs are, and leaves the cluster up.
# Re-running is safe: a running cluster is reused, the service is re-created and its outputs start afresh.
#
# Environment: FRAMES (20), SEDNA_LOCAL_DIR (cluster dir, default ~/.sedna/local), TIMEOUT (seconds, 300),
# PYTHON (interpreter with sedna installed, default .venv/bin/python), SEDNA_LOCAL_UP_ARGS (extra arguments
# of `sedna local up`, e.g. "--cluster-cidr 127.42.0.0/16 --lc-port 19100").
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PYTHON:-$REPO/.venv/bin/python}
if ! "$PY" -c 'import sedna' 2>/dev/null; then
  echo "e2e-joint-inference: $PY cannot import sedna; run hack/local-up.sh (it creates .venv) or set PYTHON" >&2
  exit 1
fi
FRAMES=${FRAMES:-20}
TIMEOUT=${TIMEOUT:-300}
DATA_DIR=${SEDNA_LOCAL_DIR:-$HOME/.sedna/local}
mkdir -p "$DATA_DIR"
DATA_DIR=$(cd "$DATA_DIR" && pwd)
EXAMPLE=$REPO/examples/joint_inference/helmet_detection
MANIFEST=$EXAMPLE/helmet_detection_inference.yaml
NAME=helmet-detection-inference-example
PREP=$DATA_DIR/prepared/joint_inference
EDGE_ROOT=$DATA_DIR/nodes/edge-node
CLOUD_ROOT=$DATA_DIR/nodes/cloud-node
OUT=$EDGE_ROOT/joint_inference/output

local_() { "$PY" -m sedna --log-level WARNING local --data-dir "$DATA_DIR" "$@"; }
step() { printf '\n==> %s\n' "$*"; }

# ---- 1. data and models --------------------------------------------------------------------------------
step "preparing $FRAMES frames and the two models ($PREP)"
have=0
[ -d "$PREP/frames" ] && have=$(find "$PREP/frames" -name '*.npy' | wc -l)
if [ "$have" -eq "$FRAMES" ] && [ -f "$PREP/models/little_model.npz" ] && [ -f "$PREP/models/big_model.npz" ]; then
  echo "reusing the prepared data"
else
  rm -rf "$PREP"
  (cd "$EXAMPLE" && "$PY" prepare.py --out "$PREP" --frames "$FRAMES")
fi

# ---- 2. the cluster -------------------------------------------------------------------------------------
step "starting the single-machine cluster ($DATA_DIR)"
# shellcheck disable=SC2086
local_ up --nodes cloud-node,edge-node --image-map "$EXAMPLE/local-images.yaml" ${SEDNA_LOCAL_UP_ARGS:-}
IMAGE_MAP_VIA_ANNOTATION=$("$PY" - "$DATA_DIR/state.json" "$EXAMPLE/local-images.yaml" <<'EOF'
import json, sys
from pathlib import Path
state = json.loads(Path(sys.argv[1]).read_text())
problems = []
nodes = {n["name"] for n in state.get("nodes") or []}
if not {"cloud-node", "edge-node"} <= nodes:
    problems.append(f"its nodes are {sorted(nodes)}, not cloud-node and edge-node")
if not (state.get("controllers") or {}).get("enabled"):
    problems.append("it runs without the GM and the LCs: " + str((state.get("controllers") or {}).get("reason")))
if problems:
    sys.exit("e2e-joint-inference: a cluster is already running in this directory, but " + "; ".join(problems)
             + ".\nStop it first (sedna local --data-dir DIR down) or use another SEDNA_LOCAL_DIR.")
argvs = [((state.get("children") or {}).get(f"node-{node}") or {}).get("argv") or []
         for node in ("cloud-node", "edge-node")]
print("" if all(str(Path(sys.argv[2]).resolve()) in argv for argv in argvs) else "yes")
EOF
)
if [ -n "$IMAGE_MAP_VIA_ANNOTATION" ]; then
  echo "note: the running cluster was started without the example's image map; the pods get it through"
  echo "      their annotation local.sedna.io/image-map instead (or: sedna local up --image-map $EXAMPLE/local-images.yaml)"
fi
if ! local_ get crd jointinferenceservices.sedna.io -o name >/dev/null 2>&1; then
  step "installing the CRDs"
  for crd in "$REPO"/deploy/crds/*.yaml; do local_ apply -f "$crd" >/dev/null; done
fi

# ---- 3. models, a fresh service, frames -----------------------------------------------------------------
if local_ get jointinferenceservice "$NAME" -o name >/dev/null 2>&1; then
  step "deleting the service of an earlier run"
  local_ delete jointinferenceservice "$NAME"
fi
step "placing the models on the nodes and applying $MANIFEST"
mkdir -p "$EDGE_ROOT/joint_inference/models" "$CLOUD_ROOT/joint_inference/models"
cp "$PREP/models/little_model.npz" "$EDGE_ROOT/joint_inference/models/"
cp "$PREP/models/big_model.npz" "$CLOUD_ROOT/joint_inference/models/"

"$PY" - "$DATA_DIR" "$NAME" "$PREP/frames" "$FRAMES" "$TIMEOUT" "$MANIFEST" "$EXAMPLE/local-images.yaml" \
  "$IMAGE_MAP_VIA_ANNOTATION" <<'EOF'
"""Wait for the old pods to go, apply, feed the frames once the cloud is ready, show progress until done."""
import json, shutil, subprocess, sys, time
from pathlib import Path

import httpx

from sedna.local.apiserver import kubeconfig_token
import yaml

data_dir, name, frames_dir, frames, timeout, manifest, image_map, via_annotation = sys.argv[1:9]
data_dir, frames, timeout = Path(data_dir), int(frames), float(timeout)
state = json.loads((data_dir / "state.json").read_text())
api = httpx.Client(base_url=state["url"], timeout=30, headers={"Authorization": f"Bearer {kubeconfig_token(state['kubeconfig'])}"})
label = f"jointinferenceservice.sedna.io/name={name}"
video = data_dir / "nodes" / "edge-node" / "joint_inference" / "video"
out = data_dir / "nodes" / "edge-node" / "joint_inference" / "output"
tty = sys.stdout.isatty()
last_line, last_print = "", 0.0


def show(line: str, final: bool = False) -> None:
    global last_line, last_print
    now = time.monotonic()
    if tty:                                         # one line, redrawn: never wider than the terminal
        cols = shutil.get_terminal_size().columns - 1
        sys.stdout.write("\r\033[K" + line[:cols] + ("\n" if final else ""))
        sys.stdout.flush()
    elif final or (line != last_line and now - last_print >= 5):
        print(line, flush=True)
        last_print = now
    last_line = line


def pods():
    return api.get("/api/v1/namespaces/default/pods", params={"labelSelector": label}).json()["items"]


def service():
    r = api.get(f"/apis/sedna.io/v1alpha1/namespaces/default/jointinferenceservices/{name}")
    return r.json() if r.status_code == 200 else None


def pod_summary(items):
    parts = []
    for p in sorted(items, key=lambda p: p["spec"].get("nodeName", "")):
        st = p.get("status") or {}
        waiting = next(((cs.get("state") or {}).get("waiting", {}).get("reason") for cs in
                        st.get("containerStatuses") or [] if (cs.get("state") or {}).get("waiting")), None)
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or [])
        kind = p["metadata"]["labels"].get("jointinferenceservice.sedna.io/worker-type", "?")
        parts.append(f"{kind}@{p['spec'].get('nodeName')}: {waiting or st.get('phase', 'Pending')}"
                     f"{' ready' if ready else ''}")
    return ", ".join(parts) or "no pods yet"


def condition(svc):
    conds = ((svc or {}).get("status") or {}).get("conditions") or []
    return conds[-1]["type"] if conds else "Pending"


def metrics(svc):
    return {m["key"]: m["value"] for m in ((svc or {}).get("status") or {}).get("metrics") or []}


def fail(msg):
    show(last_line, final=True)
    sys.exit(f"e2e-joint-inference: {msg}\nlogs: sedna local --data-dir {data_dir} logs <pod>; "
             f"components: {data_dir}/logs/")


deadline = time.monotonic() + timeout
while pods() or service():                          # an earlier run's service is being deleted
    if time.monotonic() > deadline:
        fail("the earlier service's pods did not go away")
    show(f"waiting for the earlier run's pods to stop: {pod_summary(pods())}")
    time.sleep(0.5)
for sub in ("output", "hard_example_cloud_inference_output", "hard_example_edge_inference_output"):
    shutil.rmtree(out / sub, ignore_errors=True)
shutil.rmtree(video, ignore_errors=True)
video.mkdir(parents=True)                           # the camera starts once the cloud serves
text = Path(manifest).read_text()
if via_annotation:
    # the runtime merges a pod's local.sedna.io/image-map annotation into its node's image map
    from sedna.local.runtime.images import ANNOTATION, load_image_map
    imap = load_image_map(image_map)
    entries = {image: {"entrypoint": e.entrypoint, "workingDir": e.working_dir, "paths": e.paths}
               for image, e in imap.entries.items()}
    docs = [d for d in yaml.safe_load_all(text) if d]
    for doc in docs:
        if doc.get("kind") == "JointInferenceService":
            for side in ("edgeWorker", "cloudWorker"):
                meta = doc["spec"][side]["template"].setdefault("metadata", {})
                meta.setdefault("annotations", {})[ANNOTATION] = json.dumps({"images": entries})
    text = yaml.safe_dump_all(docs, sort_keys=False)
subprocess.run([sys.executable, "-m", "sedna", "--log-level", "WARNING", "local", "--data-dir", str(data_dir),
                "apply", "-f", "-"], input=text, text=True, check=True)

while True:
    items = pods()
    cloud = [p for p in items if p["spec"].get("nodeName") == "cloud-node"]
    if cloud and any(c["type"] == "Ready" and c["status"] == "True"
                     for c in (cloud[0].get("status") or {}).get("conditions") or []):
        break
    if time.monotonic() > deadline:
        fail("the cloud worker did not become ready")
    show(f"service {condition(service())} | {pod_summary(items)}")
    time.sleep(0.5)
show(f"service {condition(service())} | {pod_summary(pods())}", final=True)
print(f"cloud worker ready: feeding {frames} frames to the edge worker ({video})", flush=True)
for frame in sorted(Path(frames_dir).glob("*.npy")):
    shutil.copy(frame, video / frame.name)

width = 30
while True:
    svc = service()
    done = len(list((out / "output").glob("*.json"))) if (out / "output").is_dir() else 0
    reported = int(metrics(svc).get("inferenceNumber", 0))
    bar = "#" * (width * done // max(frames, 1))
    show(f"[{bar:<{width}}] {done}/{frames} frames processed, {reported} reported to the CR | "
         f"service {condition(svc)} | {pod_summary(pods())}")
    if done >= frames and reported >= frames:
        # a report can be taken between two counter updates of the last frame: wait for the hard count too
        hard = sum(1 for f in (out / "output").glob("*.json") if json.loads(f.read_text())["is_hard_example"])
        if int(metrics(svc).get("hardExampleNumber", -1)) == hard:
            show(last_line, final=True)
            break
    if condition(svc) == "Failed":
        fail("the service failed: " + json.dumps((svc.get("status") or {}).get("conditions"), indent=1))
    if time.monotonic() > deadline:
        fail(f"not every frame was processed within {timeout:.0f} s")
    time.sleep(0.5)
EOF

# ---- 4. report ------------------------------------------------------------------------------------------
step "status of jointinferenceservice/$NAME (status.metrics, as reported by the edge LC)"
"$PY" - "$DATA_DIR" "$NAME" "$OUT" <<'EOF'
import json, sys
from pathlib import Path

import httpx

from sedna.local.apiserver import kubeconfig_token

data_dir, name, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
state = json.loads((data_dir / "state.json").read_text())
with httpx.Client(base_url=state["url"], timeout=30, headers={"Authorization": f"Bearer {kubeconfig_token(state['kubeconfig'])}"}) as api:
    svc = api.get(f"/apis/sedna.io/v1alpha1/namespaces/default/jointinferenceservices/{name}").json()
    pods = api.get("/api/v1/namespaces/default/pods",
                   params={"labelSelector": f"jointinferenceservice.sedna.io/name={name}"}).json()["items"]
st = svc.get("status") or {}
m = {x["key"]: x["value"] for x in st.get("metrics") or []}
print(f"  condition            {(st.get('conditions') or [{}])[-1].get('type')}  "
      f"(active {st.get('active')}, failed {st.get('failed')})")
print(f"  inference number     {m.get('inferenceNumber')}")
print(f"  hard-example number  {m.get('hardExampleNumber')}")
print(f"  upload-cloud ratio   {float(m.get('uploadCloudRatio', 0)):.3f}")
print(f"  failed offloads      {m.get('failedOffloadNumber', '0')}")
print("\noutputs (one JSON file per frame) on edge-node, i.e. under", out)
for sub, what in (("output", "every frame: final result, is_hard_example"),
                  ("hard_example_edge_inference_output", "hard frames: the little model's answer"),
                  ("hard_example_cloud_inference_output", "hard frames: the big model's answer")):
    n = len(list((out / sub).glob("*.json"))) if (out / sub).is_dir() else 0
    print(f"  {out / sub}  ({n} files; {what})")
print("\npods (logs: sedna local --data-dir DIR logs POD):")
for p in pods:
    print(f"  {p['metadata']['name']}  on {p['spec'].get('nodeName')}")
EOF

cat <<EOF

The cluster is still up. To look around:
  export KUBECONFIG=$DATA_DIR/kubeconfig
  kubectl get jointinferenceservices,pods,deployments,services -o wide     # kubectl: $REPO/.venv/bin/kubectl
  kubectl get jointinferenceservice $NAME -o yaml
  $PY -m sedna local --data-dir $DATA_DIR status
  $PY -m sedna local --data-dir $DATA_DIR get pods -o wide
  $PY -m sedna local --data-dir $DATA_DIR logs <pod>           # worker output (pods above)
  ls $DATA_DIR/logs/                                              # GM, LCs, node agents, API server
Drop more .npy frames into $EDGE_ROOT/joint_inference/video/ and the edge worker picks them up.
To tear down:
  $PY -m sedna local --data-dir $DATA_DIR down [--purge]
EOF
