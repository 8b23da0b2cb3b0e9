"""Per-update latency of `jvae-tf explore` (target: at most 100 ms for a local export on 2 CPU cores).

An update is what a slider move asks: the decoded image (``/api/decode``); once the slider rests, the
page also asks for the strip of that dim and the row of every category (``/api/views``).

- ``http``: each request's round trip from Python to the explorer's server, what any page waits for;
- ``browser``: in headless Chromium, from the slider's ``input`` event until the new image is decoded
  and ready to paint (the page's debounce, fetch, JSON and image decoding included), and the CPU time
  Chromium (with chromedriver) and this process (the server) spend per update, which does not depend on
  how busy the machine is.

    python scripts/benchmark_explorer.py --export saved_models/jointvae --requests 200 --browser
    python scripts/benchmark_explorer.py runs/four_shapes-c5-d8-s0 --browser --screenshot docs/explorer.png

``--screenshot`` also saves the page showing the prior sample of ``--seed`` (the README's picture).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
import urllib.request

import numpy as np

from jointvae_tf.serving.explorer import address, make_server, open_explorer
from jointvae_tf.serving.sources import open_predictor

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

MEASURE_IN_PAGE = """
const [dim, value, done] = arguments;
const input = document.getElementById("z" + dim);
const image = document.getElementById("image");
const start = performance.now();
const observer = new MutationObserver(() => {
  if (Math.abs(JSON.parse(image.dataset.code).z[dim] - value) > 1e-9) return;
  observer.disconnect();
  const requests = performance.getEntriesByName(new URL("/api/decode", location.href).href);
  const fetched = requests[requests.length - 1];
  performance.clearResourceTimings();
  image.decode().then(() => done([performance.now() - start, fetched.responseEnd - fetched.startTime]));
});
observer.observe(image, {attributes: true, attributeFilter: ["data-code"]});
input.value = value;
input.dispatchEvent(new Event("input"));
"""

MEASURE_DRAG = """
const [dim, values, interval, done] = arguments;
const input = document.getElementById("z" + dim);
const image = document.getElementById("image");
const moved = new Map();
const lags = [];
let last = null;
const observer = new MutationObserver(() => {
  const shown = JSON.parse(image.dataset.code).z[dim];
  const start = moved.get(shown);
  if (start === undefined) return;
  image.decode().then(() => {
    lags.push(performance.now() - start);
    if (shown === last) {
      observer.disconnect();
      done(lags);
    }
  });
});
observer.observe(image, {attributes: true, attributeFilter: ["data-code"]});
values.forEach((value, k) => setTimeout(() => {
  moved.set(value, performance.now());
  if (k === values.length - 1) last = value;
  input.value = value;
  input.dispatchEvent(new Event("input"));
}, k * interval));
"""


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of process ``root`` and all its descendants so far (Linux /proc)."""
    parents, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += cpu.get(pid, 0.0)
        stack += [child for child, parent in parents.items() if parent == pid]
    return total


def summary(name: str, milliseconds: list[float]) -> str:
    values = np.asarray(milliseconds)
    return (f"{name}: median {np.median(values):.1f} ms, p90 {np.percentile(values, 90):.1f} ms, "
            f"max {values.max():.1f} ms over {len(values)} updates")


def slider_values(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` slider positions (multiples of 0.01 in [-3, 3]), no two in a row equal."""
    values = np.round(rng.uniform(-3, 3, n), 2)
    values[1:][values[1:] == values[:-1]] += 0.01
    return values


def http_latency(url: str, info: dict, n: int, rng: np.random.Generator, path: str) -> list[float]:
    """Milliseconds of ``n`` requests to ``path`` (``api/decode`` or ``api/views``) for random codes, the top
    dims in turn moving over the slider's range."""
    dims = [d["dim"] for d in info["dims"]] or [None]
    times = []
    for i, value in enumerate(slider_values(n, rng)):
        z = rng.uniform(-1, 1, info["cont"]).round(2)
        dim = dims[i % len(dims)]
        if dim is not None:
            z[dim] = value
        body = json.dumps({"z": z.tolist(), "c": [int(rng.integers(k)) for k in info["disc"]], "dim": dim}).encode()
        request = urllib.request.Request(url + path, data=body, headers={"Content-Type": "application/json"})
        start = time.perf_counter()
        with urllib.request.urlopen(request) as response:
            response.read()
        times.append(1000 * (time.perf_counter() - start))
    return times


def browser_session(url: str, info: dict, args, rng: np.random.Generator) -> None:
    """Time updates in headless Chromium and print them; save the screenshot if asked."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    profile = tempfile.mkdtemp(prefix="jvae-explore-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}", f"--window-size={args.window}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(url)
        WebDriverWait(driver, 60).until(lambda d: d.find_element("id", "image").get_attribute("data-code"))
        if info["dims"]:
            times = []
            top = info["dims"][0]["dim"]
            browser_cpu, server_cpu = tree_cpu_seconds(driver.service.process.pid), time.process_time()
            for value in slider_values(args.requests, rng):
                times.append(driver.execute_async_script(MEASURE_IN_PAGE, top, float(value)))
                time.sleep(0.3)  # the strip and the categories follow once the slider rests
            browser_cpu = tree_cpu_seconds(driver.service.process.pid) - browser_cpu
            server_cpu = time.process_time() - server_cpu
            print(summary("browser, one slider move: input event to new image", [t[0] for t in times]))
            print(summary("  of which the /api/decode request, as the browser sees it", [t[1] for t in times]))
            print(f"  CPU time per move (image, then strip and categories): Chromium with chromedriver "
                  f"{1000 * browser_cpu / len(times):.1f} ms, the explorer's server (this process) "
                  f"{1000 * server_cpu / len(times):.1f} ms")
            sweep = np.round(np.linspace(-2.5, 2.5, args.drag_seconds * 60), 2)
            driver.set_script_timeout(60 + args.drag_seconds)
            lags = driver.execute_async_script(MEASURE_DRAG, top, [float(v) for v in sweep], 1000 / 60)
            print(summary(f"browser, dragging ({len(sweep)} input events at 60 Hz): input event to its image on show",
                          lags) + f" ({len(lags)} images shown)")
        if args.screenshot:
            driver.find_element("id", "seed").clear()
            driver.find_element("id", "seed").send_keys(str(args.seed))
            driver.find_element("id", "random").click()
            WebDriverWait(driver, 60).until(lambda d: "prior sample" in d.find_element("id", "status").text)
            time.sleep(1.0)
            driver.save_screenshot(args.screenshot)
            print(f"screenshot: {args.screenshot}")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", nargs="?", help="a run folder (its latest checkpoint, or the run of --export)")
    parser.add_argument("--export", help="saved_models/NAME[/VERSION]")
    parser.add_argument("--requests", type=int, default=200, help="updates to time, each way")
    parser.add_argument("--drag-seconds", type=int, default=3, help="length of the simulated drag")
    parser.add_argument("--browser", action="store_true", help="also time updates in headless Chromium")
    parser.add_argument("--screenshot", help="save the page (a prior sample of --seed) as this PNG; needs --browser")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--window", default="1280,900", help="browser window width,height in pixels")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if not (args.run_dir or args.export):
        parser.error("expected a run folder or --export")
    explorer = open_explorer(open_predictor(args.export or args.run_dir), args.run_dir)
    server = make_server(explorer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = address(server)
    info = explorer.model_info()
    try:
        print(f"{explorer.title}: cont {info['cont']}, disc {info['disc']}, images {info['image_shape']}, "
              f"{len(info['strip_values'])}-step strip; cores {os.sched_getaffinity(0)}")
        for path in ("api/decode", "api/views"):
            http_latency(url, info, 20, rng, path)  # warm up
            print(summary(f"http round trip, {path}", http_latency(url, info, args.requests, rng, path)))
        if args.browser:
            browser_session(url, info, args, rng)
    finally:
        server.shutdown()
        server.server_close()
        explorer.close()


if __name__ == "__main__":
    main()
