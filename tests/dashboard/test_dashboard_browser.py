"""The dashboard in headless Chromium over the API emulator: the overview lists CRs and puts a crash-looping
worker's CR first, the job page's plot gains points as the status changes (pushed by SSE, no reload), phone
width and dark mode render. Screenshots go to the artifacts directory."""

from __future__ import annotations

import pytest
from objects import API, crash_looping, ji_service, put_status, running, worker_pod
from support_browser import artifacts_dir, browser_or_skip, click, elements, quit_browser, text, viewport
from support_procs import wait_for

from sedna.dashboard.app import MetricsLink, create_app
from sedna.dashboard.main import DashboardServer

pytestmark = [pytest.mark.timeout(180), pytest.mark.browser]
JI = f"{API}/namespaces/default/jointinferenceservices"


@pytest.fixture
def browser():
    driver = browser_or_skip()
    try:
        yield driver
    finally:
        quit_browser(driver)


@pytest.fixture
def dashboard_url(hub):
    server = DashboardServer(create_app(hub, None, [MetricsLink(name="gm", url="http://127.0.0.1:9/metrics")]),
                             "127.0.0.1", 0).start_background()
    try:
        yield f"http://127.0.0.1:{server.port}/"
    finally:
        server.stop()


def _points(driver, metric: str) -> int:
    return int(driver.execute_script(
        f"const e = document.querySelector('.plot[data-metric=\"{metric}\"]'); return e ? +e.dataset.points : 0;"))


def test_overview_job_page_and_crash_loop(kube, browser, dashboard_url, tmp_path):
    shots = artifacts_dir(tmp_path)
    kube.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}})
    assert kube.post(JI, json=ji_service("helmet-detection")).status_code == 201
    assert kube.post(f"{API}/namespaces/team-b/jointinferenceservices",
                     json=ji_service("crashing-service", ns="team-b")).status_code == 201
    kube.post("/api/v1/namespaces/default/pods", json=worker_pod("JointInferenceService", "helmet-detection",
                                                                  "helmet-detection-edge-x1"))
    put_status(kube, "/api/v1/namespaces/default/pods/helmet-detection-edge-x1", running())
    browser.get(dashboard_url)
    wait_for(lambda: elements(browser, "#live.on"), 15, "the live stream")
    wait_for(lambda: len(elements(browser, "#overview tr.link")) == 2, 15, "two rows")

    # a worker starts crash-looping: its CR moves to the top, failing, without a reload
    kube.post("/api/v1/namespaces/team-b/pods", json=worker_pod("JointInferenceService", "crashing-service",
                                                                 "crashing-service-edge-z9", ns="team-b"))
    put_status(kube, "/api/v1/namespaces/team-b/pods/crashing-service-edge-z9", crash_looping(exit_code=3))
    first = wait_for(lambda: (rows := elements(browser, "#overview tr.link")) and
                     rows[0]["data"]["failing"] == "true" and rows[0], 15, "the failing row first")
    assert "crashing-service" in first["text"] and "last exit code 3" in first["text"]
    browser.save_screenshot(str(shots / "overview.png"))

    # the job page: its plot gains a point per reported change, pushed over SSE
    browser.get(dashboard_url + "#/o/jointinferenceservices/default/helmet-detection")
    for n in (3, 8, 15):
        put_status(kube, f"{JI}/helmet-detection", {"active": 2, "metrics": [
            {"key": "inferenceNumber", "value": str(n)}, {"key": "hardExampleNumber", "value": str(n // 3)},
            {"key": "uploadCloudRatio", "value": str(round((n // 3) / n, 3))},
            {"key": "failedOffloadNumber", "value": "0"}]})
        wait_for(lambda n=n: str(n) in text(browser, "#ji-cards"), 15, f"inferences {n}")
    points = wait_for(lambda: _points(browser, "inferenceNumber") >= 3 and _points(browser, "inferenceNumber"),
                      15, "three points on the inference plot")
    assert points == 3
    browser.save_screenshot(str(shots / "job-ji.png"))

    # the crash-looping worker's page shows the pod failing with its exit code
    browser.get(dashboard_url + "#/o/jointinferenceservices/team-b/crashing-service")
    pod = wait_for(lambda: elements(browser, 'tr[data-pod="crashing-service-edge-z9"]'), 15, "the pod row")[0]
    assert pod["data"]["failing"] == "true" and "CrashLoopBackOff" in pod["text"]
    assert text(browser, 'tr[data-pod="crashing-service-edge-z9"] td.exit') == "3"

    # phone width and dark mode
    viewport(browser, 390, 844)
    browser.get(dashboard_url)
    wait_for(lambda: elements(browser, "#overview tr.link"), 15, "rows at phone width")
    click(browser, "#theme")
    assert browser.execute_script("return document.documentElement.dataset.theme") in ("dark", "light")
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 400, f"the overview overflows a phone screen: {width}px"
    browser.save_screenshot(str(shots / "overview-phone.png"))
    browser.get(dashboard_url + "#/o/jointinferenceservices/team-b/crashing-service")
    wait_for(lambda: elements(browser, 'tr[data-pod="crashing-service-edge-z9"]'), 15, "the pod at phone width")
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 400, f"the job page overflows a phone screen: {width}px"
    browser.save_screenshot(str(shots / "job-phone.png"))
    print(f"screenshots in {shots}")


def test_fl_and_il_pages(kube, browser, dashboard_url, tmp_path):
    """The FL page draws its rounds and per-round accuracy; the IL page its stage timeline with metrics."""
    import json

    from objects import fl_job, il_job, model
    shots = artifacts_dir(tmp_path)
    kube.post(f"{API}/namespaces/default/models", json=model("surface-defect-model"))
    assert kube.post(f"{API}/namespaces/default/federatedlearningjobs",
                     json=fl_job("surface-defect", model="surface-defect-model")).status_code == 201
    browser.get(dashboard_url + "#/o/federatedlearningjobs/default/surface-defect")
    conds = []
    for rnd, acc in ((1, 0.52), (2, 0.64), (3, 0.71), (4, 0.78)):
        conds.append({"type": "Training", "status": "True", "reason": "DoTraining",
                      "message": f"Round {rnd} reaches at 2026-12-02T10:0{rnd}:00Z",
                      "lastProbeTime": f"2026-12-02T10:0{rnd}:00Z"})
        put_status(kube, f"{API}/namespaces/default/models/surface-defect-model",
                   {"metrics": [{"key": "accuracy", "value": str(acc)}, {"key": "loss", "value": str(1 - acc)}]})
        put_status(kube, f"{API}/namespaces/default/federatedlearningjobs/surface-defect",
                   {"phase": "Running", "active": 3, "conditions": list(conds)})
        wait_for(lambda rnd=rnd: text(browser, "#round") == str(rnd), 15, f"round {rnd}")
    wait_for(lambda: _points(browser, "accuracy") >= 4, 15, "four accuracy points")
    browser.save_screenshot(str(shots / "job-fl.png"))

    assert kube.post(f"{API}/namespaces/default/incrementallearningjobs", json=il_job("helmet-il")).status_code == 201
    stages = [("Train", "Completed", {"output": {"models": [{"url": "/output/train/1/model.npz", "format": "npz"}]}}),
              ("Eval", "Completed", {"input": {"models": [{"url": "/output/train/1/model.npz"}]},
                                     "output": {"models": [{"url": "/output/train/1/model.npz",
                                                            "metrics": {"precision": [0.83], "recall": [0.77]}}]}}),
              ("Deploy", "Ready", {"input": {"models": [{"url": "/output/train/1/model.npz"}]}})]
    put_status(kube, f"{API}/namespaces/default/incrementallearningjobs/helmet-il", {"conditions": [
        {"type": t, "status": "True", "stage": s, "reason": "", "message": "", "data": json.dumps(d),
         "lastTransitionTime": "2026-12-02T10:00:00Z"} for s, t, d in stages]})
    browser.get(dashboard_url + "#/o/incrementallearningjobs/default/helmet-il")
    table = wait_for(lambda: text(browser, "table.stages"), 15, "the stage table")
    assert "precision 0.830" in table and "Deploy" in table
    assert "/output/train/1/model.npz" in text(browser, "#kindview")
    browser.save_screenshot(str(shots / "job-il.png"))
    browser.get(dashboard_url + "#/o/federatedlearningjobs/default/surface-defect")
    wait_for(lambda: _points(browser, "accuracy") >= 4, 15, "the FL plots again")
    before = browser.execute_script("return document.documentElement.dataset.theme")
    click(browser, "#theme")
    after = browser.execute_script("return document.documentElement.dataset.theme")
    assert {before, after} == {"dark", "light"}
    assert _points(browser, "accuracy") >= 4          # plots are redrawn in the new colours
    browser.save_screenshot(str(shots / f"job-fl-{after}.png"))
