"""The web demo: `exhubert app` served on 127.0.0.1 and driven in headless Chromium (upload a real EMO-DB clip,
read the predicted class from the page, keep a screenshot), the Space's top-level app.py, and the error without
Gradio. The browser test skips, saying why, where Chromium, chromedriver or Selenium is not installed (`.ci/run`
installs them with apt-get where it can)."""

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, run_cli

from exhubert_hf.inference import EmotionPredictor

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ROOT = Path(__file__).resolve().parents[1]
CLIP = DATA / "emodb" / "wav" / "03a01Wa.wav"
needs_emodb = pytest.mark.skipif(not CLIP.is_file(), reason=f"EMO-DB clip {CLIP} not found")
needs_gradio = pytest.mark.skipif(importlib.util.find_spec("gradio") is None, reason="gradio not installed (pip install -e '.[app]')")
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
BROWSER_MISSING = (
    "no Chromium and chromedriver (apt-get install chromium chromium-driver)" if not (CHROMIUM and CHROMEDRIVER)
    else "selenium not installed (pip install -e '.[dev]')" if importlib.util.find_spec("selenium") is None
    else ""
)  # fmt: skip
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage",
                  "--window-size=1280,1500")  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


@pytest.fixture
def served_app(model_folder, tmp_path):
    """`exhubert app --model M --host 127.0.0.1 --port P` in a subprocess, until the page answers."""
    port = free_port()
    log = open(tmp_path / "app.log", "w+")
    command = [sys.executable, "-m", "exhubert_hf", "app", "--model", str(model_folder), "--host", "127.0.0.1",
               "--port", str(port), "--examples", str(CLIP)]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment(), cwd=tmp_path)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"exhubert app exited with {process.returncode}:\n{Path(log.name).read_text()}"
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"the app did not answer within 90 s:\n{Path(log.name).read_text()}"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@needs_emodb
@needs_gradio
@pytest.mark.skipif(bool(BROWSER_MISSING), reason=BROWSER_MISSING or "-")
def test_the_app_in_a_browser_predicts_an_uploaded_emodb_clip(served_app, model_folder, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path, prefix='chromium-')}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    screenshot = tmp_path / "app.png"
    try:
        browser.get(served_app)
        wait = WebDriverWait(browser, 60)
        upload = wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, "#audio input[type=file]"))[0]
        upload.send_keys(str(CLIP))
        summary = wait.until(lambda page: page.find_element(By.ID, "top-class").text.strip())
        heading = browser.find_element(By.CSS_SELECTOR, "#classes [data-testid=label-output-value]").text
        wait.until(lambda page: page.execute_script("const i = document.querySelector('#timeline img'); return i && i.complete && i.naturalWidth"))
        timeline_width = browser.execute_script("return document.querySelector('#timeline img').naturalWidth")
        browser.save_screenshot(str(screenshot))
    finally:
        browser.quit()
    print(f"screenshot of the app: {screenshot}")
    predictor = EmotionPredictor(model_folder, show_progress=False)
    expected = predictor.labels[int(np.argmax(predictor.predict_file(CLIP).files[0].probabilities))]
    assert summary.startswith(expected) and heading == expected, (summary, heading, expected)
    assert timeline_width == 1100  # the timeline PNG, as exhubert predict --plot draws it
    assert screenshot.stat().st_size > 10_000


@needs_emodb
@needs_gradio
def test_the_space_app_py_builds_the_demo_from_its_variables(model_folder, monkeypatch):
    """The repository's top-level app.py, as a Space runs it: the model from EXHUBERT_MODEL, windows from
    EXHUBERT_WINDOW / EXHUBERT_HOP, and the page's outputs equal `predict_file`."""
    import gradio

    from exhubert_hf.app import analyse

    monkeypatch.setenv("EXHUBERT_MODEL", str(model_folder))
    monkeypatch.setenv("EXHUBERT_WINDOW", "1.0")
    monkeypatch.setenv("EXHUBERT_HOP", "0.5")
    spec = importlib.util.spec_from_file_location("space_app", ROOT / "app.py")
    space = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(space)
    assert isinstance(space.demo, gradio.Blocks)
    assert (space.predictor.window, space.predictor.hop) == (1.0, 0.5)
    summary, probabilities, arousal, valence, timeline = analyse(space.predictor, space.MODEL, str(CLIP))
    item = space.predictor.predict_file(CLIP).files[0]
    np.testing.assert_allclose(list(probabilities.values()), item.probabilities, atol=1e-12)
    assert summary.startswith(f"**{max(probabilities, key=probabilities.get)}**")
    assert abs(sum(valence.values()) - 1) < 1e-6 and abs(sum(arousal.values()) - 1) < 1e-6
    assert timeline.size[0] == 1100


def test_the_app_without_gradio_says_how_to_install_it(model_folder, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio raises ImportError
    assert run_cli(monkeypatch, "app", "--model", model_folder) == 2
    assert "pip install 'exhubert-hf[app]'" in capsys.readouterr().err


def test_the_readme_space_requirements_are_the_package_dependencies():
    import re

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"`requirements.txt`, the package's own dependencies.*?\n```\n(.*?)```", readme, re.S)
    assert block, "README lost the Space's requirements.txt"
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert block.group(1).split() == dependencies
