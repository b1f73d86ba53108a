"""``sedna validate`` and the semantic checks the GM reuses (``check_object``)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
from api_reference import REPO, SAMPLES_DIR, needs_reference

from sedna.api import semantics
from sedna.api.common import API_VERSION
from sedna.api.validate import ValidationIssue, check_object, validate_object

POD = {"spec": {"nodeName": "edge-1", "containers": [{"name": "c", "image": "busybox"}]}}
TRIGGER = {"checkPeriodSeconds": 60, "timer": {"start": "02:00", "end": "24:00"},
           "condition": {"operator": ">", "threshold": 500, "metric": "num_of_samples"}}
IL = {
    "apiVersion": API_VERSION, "kind": "IncrementalLearningJob", "metadata": {"name": "il", "namespace": "default"},
    "spec": {
        "dataset": {"name": "ds", "trainProb": 0.8},
        "initialModel": {"name": "m0"},
        "trainSpec": {"template": POD, "trigger": TRIGGER},
        "evalSpec": {"template": POD},
        "deploySpec": {"model": {"name": "m1", "hotUpdateEnabled": True},
                       "trigger": {"condition": {"operator": "gt", "threshold": 0.1,
                                                 "metric": "precision_delta[0]"}},
                       "hardExampleMining": {"name": "IBT", "parameters": [{"key": "threshold_img",
                                                                            "value": "0.9"}]},
                       "template": POD},
        "outputDir": "/output",
    },
}
JI = {
    "apiVersion": API_VERSION, "kind": "JointInferenceService", "metadata": {"name": "ji"},
    "spec": {"edgeWorker": {"model": {"name": "small"}, "hardExampleMining": {"name": "CrossEntropy"},
                            "template": POD},
             "cloudWorker": {"model": {"name": "big"}, "template": POD}},
}


def edited(doc: dict, path: str, value) -> dict:
    out = json.loads(json.dumps(doc))  # unlike deepcopy, unshares the templates the fixtures reuse
    node = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return out


DELETE = object()


def errors(issues):
    return [(i.path, i.reason) for i in issues if i.severity == "error"]


def test_good_objects_have_no_issues():
    assert check_object(IL) == []
    assert check_object(JI) == []
    assert validate_object(IL) == []
    assert validate_object(JI) == []


@pytest.mark.parametrize("path, value, where, fragment", [
    ("spec.trainSpec.trigger.condition.operator", "greater", "spec.trainSpec.trigger.condition.operator",
     "unknown operator 'greater'"),
    ("spec.trainSpec.trigger.timer.start", "2:00", "spec.trainSpec.trigger.timer.start", "not a time HH:MM"),
    ("spec.trainSpec.trigger.timer.end", "24:01", "spec.trainSpec.trigger.timer.end", "not a time HH:MM"),
    ("spec.trainSpec.trigger.timer.end", "23:60", "spec.trainSpec.trigger.timer.end", "not a time HH:MM"),
    ("spec.trainSpec.trigger.condition.metric", "precision", "spec.trainSpec.trigger.condition.metric",
     "can only use 'num_of_samples'"),
    ("spec.trainSpec.trigger.checkPeriodSeconds", 0, "spec.trainSpec.trigger.checkPeriodSeconds", "positive"),
    ("spec.deploySpec.trigger.condition.metric", "precision[x]", "spec.deploySpec.trigger.condition.metric",
     "not a metric name"),
    ("spec.deploySpec.hardExampleMining.name", "Magic", "spec.deploySpec.hardExampleMining.name",
     "unknown hard example mining algorithm 'Magic'"),
    ("spec.dataset.name", "", "spec.dataset.name", "must not be empty"),
    ("spec.initialModel.name", "Bad_Name", "spec.initialModel.name", "not a valid reference name"),
    ("spec.dataset.trainProb", 1.5, "spec.dataset.trainProb", "between 0 and 1"),
    ("spec.outputDir", "ftp://host/out", "spec.outputDir", "unsupported scheme 'ftp'"),
    ("spec.credentialName", "My Secret", "spec.credentialName", "not a valid secret name"),
    ("metadata.name", "IL", "metadata.name", "not a valid object name"),
    ("metadata.namespace", "Default", "metadata.namespace", "not a valid namespace name"),
    ("metadata", {"labels": {}}, "metadata.name", "required field is missing"),
])
def test_semantic_errors_name_the_field(path, value, where, fragment):
    issues = errors(check_object(edited(IL, path, value)))
    assert len(issues) == 1, issues
    assert issues[0][0] == where and fragment in issues[0][1], issues


@pytest.mark.parametrize("operator", semantics.OPERATORS)
def test_every_lc_operator_is_accepted(operator):
    assert check_object(edited(IL, "spec.trainSpec.trigger.condition.operator", operator)) == []


@pytest.mark.parametrize("start, end", [("00:00", "24:00"), ("22:00", "06:00"), ("12:30", "12:30")])
def test_time_windows(start, end):
    doc = edited(edited(IL, "spec.trainSpec.trigger.timer.start", start), "spec.trainSpec.trigger.timer.end", end)
    assert check_object(doc) == []


@pytest.mark.parametrize("name", semantics.SPEC_HEM_NAMES)
def test_spec_hem_names_are_known(name):
    assert check_object(edited(JI, "spec.edgeWorker.hardExampleMining.name", name)) == []


def test_hem_names_registered_in_class_factory_are_known():
    from sedna.common.class_factory import ClassFactory, ClassType

    doc = edited(JI, "spec.edgeWorker.hardExampleMining.name", "MyOwnHEM")
    assert errors(check_object(doc))
    ClassFactory.register_cls(type("MyOwnHEM", (), {}), ClassType.HEM)
    try:
        assert check_object(doc) == []
    finally:
        ClassFactory.__registry__[ClassType.HEM].pop("MyOwnHEM")


def test_kind_specific_rules():
    ds = {"apiVersion": API_VERSION, "kind": "Dataset", "metadata": {"name": "d"},
          "spec": {"url": "/data/train.txt", "format": "CSV", "nodeName": "edge-1"}}
    assert check_object(ds) == []
    assert errors(check_object(edited(ds, "spec.format", "json"))) == [
        ("spec.format", "unsupported format 'json' (txt or csv)")]
    assert errors(check_object(edited(ds, "spec.url", "http://x/train.txt")))[0][0] == "spec.url"
    assert errors(check_object(edited(ds, "spec.url", "s3://bucket/train.txt"))) == []
    assert [i.severity for i in check_object(edited(ds, "spec.url", "data/train.txt"))] == ["warning"]
    fe = {"apiVersion": API_VERSION, "kind": "FeatureExtractionService", "metadata": {"name": "fe"},
          "spec": {"model": {"name": "m"}, "selector": {}, "template": POD}}
    assert errors(check_object(fe)) == [("spec.replicas", "required: the GM sizes the Deployment from it")]
    long_name = "x" * 60
    assert "Service 'xxx" in errors(check_object(edited(JI, "metadata.name", long_name)))[0][1]
    hpa = edited(JI, "spec.edgeWorker.hpa", {"minReplicas": 3, "maxReplicas": 2})
    assert errors(check_object(hpa)) == [("spec.edgeWorker.hpa", "needs 1 <= minReplicas <= maxReplicas, got 3..2")]


def test_warnings_do_not_make_objects_invalid():
    doc = edited(JI, "spec.edgeWorker.template", {"spec": {"containers": [{"name": "c"}]}})
    issues = check_object(doc)
    assert issues == [ValidationIssue("spec.edgeWorker.template.spec.nodeName",
                                      "not set: no LocalController will receive this object", "warning")]
    doc = edited(IL, "spec.outputDir", "$OUTPUT/$job")
    assert [i.severity for i in check_object(doc)] == ["warning"]


def test_unexpanded_variables_in_templates_are_warnings():
    doc = edited(IL, "spec.trainSpec.template", {"spec": {"nodeName": "$WORKER_NODE", "containers": [
        {"name": "c", "image": "${IMAGE}", "args": ["sh", "-c", "echo $HOME"],
         "env": [{"name": "A", "value": "$(B)"}]}]}})
    assert check_object(doc) == [
        ValidationIssue("spec.trainSpec.template.spec.nodeName",
                        "contains an unexpanded variable ('$WORKER_NODE'); substitute it before applying",
                        "warning"),
        ValidationIssue("spec.trainSpec.template.spec.containers[0].image",
                        "contains an unexpanded variable ('${IMAGE}'); substitute it before applying",
                        "warning")]


def test_check_object_tolerates_garbage():
    for doc in ([], {"kind": "Nope"}, {"kind": "IncrementalLearningJob", "spec": []},
                {"kind": "IncrementalLearningJob", "metadata": {"name": 5}, "spec": {"trainSpec": {"trigger": 3}}},
                {"kind": "FederatedLearningJob", "metadata": {"name": "f"},
                 "spec": {"trainingWorkers": [None, 3, {"template": []}]}}):
        assert all(isinstance(i, ValidationIssue) for i in check_object(doc))


def test_validate_object_schema_errors():
    issues = validate_object(edited(IL, "spec.dataset.trainProb", "high"))
    assert ("spec.dataset.trainProb", "expected number, got string 'high'") in errors(issues)
    issues = validate_object(edited(IL, "spec.initialModel", DELETE))
    assert ("spec.initialModel", "required field is missing") in errors(issues)
    issues = validate_object(edited(IL, "spec.evalSpec.templat", {}))
    assert ("spec.evalSpec.templat", "unknown field") in errors(issues)
    issues = validate_object(edited(IL, "spec.deploySpec.model.pollPeriodSeconds", 0))
    assert ("spec.deploySpec.model.pollPeriodSeconds", "must be >= 1, got 0") in errors(issues)
    issues = validate_object(edited(IL, "spec.trainSpec.template.spec.containers.0.resources",
                                    {"limits": {"memory": "2 gigs"}}))
    assert errors(issues)[0][0] == "spec.trainSpec.template.spec.containers[0].resources.limits.memory"
    assert validate_object(edited(IL, "apiVersion", "sedna.io/v1alpha2"))[0].path == "apiVersion"


# ---- the CLI, as a real subprocess -------------------------------------------------------------------

def run(*args, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "sedna", "validate", *args], input=stdin, capture_output=True,
                          text=True, cwd=REPO, timeout=120, check=False)


@needs_reference
def test_cli_accepts_upstream_samples():
    files = [str(p) for p in sorted(SAMPLES_DIR.glob("*.yaml")) if "object" not in p.name]
    result = run("-f", *files)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"{len(files)} valid, 0 invalid, 0 skipped")
    assert "Traceback" not in result.stderr


MIXED = """\
apiVersion: v1
kind: Secret
metadata: {name: s3}
stringData: {ACCESS_KEY_ID: x}
---
apiVersion: sedna.io/v1alpha1
kind: Dataset
metadata: {name: good}
spec: {url: /data/a.txt, format: txt, nodeName: edge-1}
---
apiVersion: sedna.io/v1alpha1
kind: Dataset
metadata: {name: bad}
spec: {url: /data/a.txt, format: parquet, nodeName: 7}
---
apiVersion: sedna.io/v1alpha2
kind: Dataset
metadata: {name: future}
spec: {}
---
apiVersion: sedna.io/v1alpha1
kind: Datasets
metadata: {name: typo}
"""


def test_cli_reports_each_error_on_one_line(tmp_path):
    path = tmp_path / "mixed.yaml"
    path.write_text(MIXED)
    result = run("-f", str(path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"{path}:0 Secret/s3: skipped (not a sedna.io object)",
        f"{path}:2 Dataset/bad: spec.nodeName: expected string, got integer 7",
        f"{path}:2 Dataset/bad: spec.format: unsupported format 'parquet' (txt or csv)",
        (f"{path}:3 Dataset/future: apiVersion: unsupported version 'sedna.io/v1alpha2' "
         "(sedna.io serves sedna.io/v1alpha1 only)"),
        f"{path}:4 Datasets/typo: kind: unknown kind 'Datasets' in sedna.io",
    ]
    assert f"{path}:1 Dataset/good: valid" in result.stdout
    assert result.stdout.strip().endswith("1 valid, 3 invalid, 1 skipped")


def test_cli_reads_stdin_and_yaml12_times():
    doc = copy.deepcopy(IL)
    import yaml

    text = yaml.safe_dump(doc).replace("'02:00'", "02:00").replace("'24:00'", "24:00")
    assert "start: 02:00" in text
    result = run("-f", "-", stdin=text)
    assert result.returncode == 0, result.stderr
    assert "<stdin>:0 IncrementalLearningJob/il: valid" in result.stdout


def test_cli_yaml_errors_and_missing_files(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: sedna.io/v1alpha1\nkind: Model\nspec: {url: [\n")
    result = run("-f", str(broken), "-f", str(tmp_path / "missing.yaml"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"{broken}: invalid YAML: ") and "line 4" in lines[0]
    assert lines[1] == f"{tmp_path / 'missing.yaml'}: cannot read: No such file or directory"
    assert "Traceback" not in result.stderr


def test_cli_non_mapping_and_missing_identity(tmp_path):
    path = tmp_path / "odd.yaml"
    path.write_text("- just\n- a list\n---\nspec: {}\n")
    result = run("-f", str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}:0 (not a mapping): (root): expected a mapping, got list",
        f"{path}:1 ?/?: apiVersion: required field is missing",
        f"{path}:1 ?/?: kind: required field is missing",
    ]


def test_cli_directory_and_warnings(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "apiVersion: sedna.io/v1alpha1\nkind: Model\nmetadata: {name: m}\nspec: {url: $MODEL_URL, format: pb}\n")
    (tmp_path / "notes.txt").write_text("ignored")
    result = run("-f", str(tmp_path))
    assert result.returncode == 0
    assert "warning: spec.url: contains an unexpanded variable" in result.stderr
    assert "1 valid, 0 invalid, 0 skipped" in result.stdout


@needs_reference
def test_cli_rejects_the_odd_upstream_samples():
    result = run("-f", str(SAMPLES_DIR / "objectsearchservice_v1alpha1.yaml"))
    assert result.returncode == 1
    assert "spec.reidWorkers.selector: required field is missing" in result.stderr


def test_cli_expands_list_documents_and_hints_yaml11_booleans(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("""\
apiVersion: v1
kind: List
items:
- apiVersion: sedna.io/v1alpha1
  kind: Model
  metadata: {name: m}
  spec: {url: /models/m.pb, format: pb}
- apiVersion: sedna.io/v1alpha1
  kind: VideoAnalyticsJob
  metadata: {name: va}
  spec:
    kafkaSupport: yes
    model: {name: m}
    template: {spec: {containers: [{name: c, image: i}]}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm}
""")
    result = run("-f", str(path))
    assert result.returncode == 1
    assert f"{path}:0.items[0] Model/m: valid" in result.stdout
    assert result.stderr.splitlines() == [
        (f"{path}:0.items[1] VideoAnalyticsJob/va: spec.kafkaSupport: expected boolean, got string 'yes' "
         "(YAML 1.2, as Kubernetes reads it: only true/false are booleans)"),
        f"{path}:0.items[2] ConfigMap/cm: skipped (not a sedna.io object)",
    ]


def test_validate_files_in_process(tmp_path):
    import io

    from sedna.api.validate import validate_files

    out, err = io.StringIO(), io.StringIO()
    code = validate_files(["-"], stdin=io.StringIO("apiVersion: sedna.io/v1alpha1\nkind: Model\n"
                                                   "metadata: {name: m}\nspec: {format: pb}\n"), out=out, err=err)
    assert code == 1
    assert err.getvalue() == "<stdin>:0 Model/m: spec.url: required field is missing\n"
    assert out.getvalue() == "0 valid, 1 invalid, 0 skipped\n"


def test_admit_prunes_defaults_and_validates_like_an_apiserver():
    from sedna.api import crdgen, yamlio
    from sedna.api.validate import admit

    crd = yamlio.load((REPO / "deploy" / "crds" / "sedna.io_incrementallearningjobs.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    obj = edited(IL, "spec.unknownField", {"x": 1})
    obj["metadata"]["creationTimestamp"] = None
    stored, issues = admit(schema, obj)
    assert issues == []
    assert "unknownField" not in stored["spec"]
    assert stored["spec"]["deploySpec"]["model"]["pollPeriodSeconds"] == 60
    assert stored["metadata"] == {"name": "il", "namespace": "default"}
    _, issues = admit(schema, edited(IL, "spec.dataset.trainProb", "x"))
    assert [str(i) for i in issues] == ["spec.dataset.trainProb: expected number, got string 'x'"]
    assert admit(crdgen.openapi_schema("Dataset"), {"spec": {}})[1][0].path == "spec.format"


def test_cli_odd_inputs_never_trace(tmp_path):
    as_json = tmp_path / "model.json"
    as_json.write_text(json.dumps({"apiVersion": API_VERSION, "kind": "Model", "metadata": {"name": "m"},
                                   "spec": {"url": "s3://bucket/m.pb", "format": "pb"}}))
    binary = tmp_path / "blob.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text("apiVersion: sedna.io/v1alpha1\nkind: Model\nspec: !!python/object:os.system {}\n")
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n---\n")
    result = run("-f", str(as_json), str(binary), str(tagged), str(empty))
    assert result.returncode == 1
    assert f"{as_json}:0 Model/m: valid" in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 3 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"{binary}: cannot read: ")
    assert lines[1].startswith(f"{tagged}: invalid YAML: could not determine a constructor for the tag")
    assert lines[2] == f"{empty}: no objects"
