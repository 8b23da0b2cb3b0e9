"""Per-update latency of `jvae-tf explore` (target: at most 100 ms for a local export on 2 CPU cores).

Two figures, both for one slider move (the decoded image, the strip of that dim and the row of every
category, one ``/api/view`` request):

- ``http``: the request's round trip from Python to the explorer's server, what any page waits for;
- ``browser``: in headless Chromium, from the slider's ``input`` event until the new image is decoded
  and ready to paint (the page's debounce, fetch, JSON and image decoding included).

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

from jointvae_tf.explorer import address, make_server, open_explorer

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
  image.decode().then(() => done(performance.now() - start));
});
observer.observe(image, {attributes: true, attributeFilter: ["data-code"]});
input.value = value;
input.dispatchEvent(new Event("input"));
"""


def summary(name: str, milliseconds: list[float]) -> str:
    values = np.asarray(milliseconds)
    return (f"{name}: median {np.median(values):.1f} ms, p90 {np.percentile(values, 90):.1f} ms, "
            f"max {values.max():.1f} ms over {len(values)} updates")


def slider_values(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` slider positions (multiples of 0.01 in [-3, 3]), no two in a row equal."""
    values = np.round(rng.uniform(-3, 3, n), 2)
    values[1:][values[1:] == values[:-1]] += 0.01
    return values


def http_latency(url: str, info: dict, n: int, rng: np.random.Generator) -> list[float]:
    dims = [d["dim"] for d in info["dims"]] or [None]
    times = []
    for i, value in enumerate(slider_values(n, rng)):
        z = rng.uniform(-1, 1, info["cont"]).round(2)
        dim = dims[i % len(dims)]
        if dim is not None:
            z[dim] = value
        body = json.dumps({"z": z.tolist(), "c": [int(rng.integers(k)) for k in info["disc"]], "dim": dim}).encode()
        request = urllib.request.Request(url + "api/view", data=body, headers={"Content-Type": "application/json"})
        start = time.perf_counter()
        with urllib.request.urlopen(request) as response:
            response.read()
        times.append(1000 * (time.perf_counter() - start))
    return times


def browser_session(url: str, info: dict, args, rng: np.random.Generator) -> list[float]:
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
        times = []
        if info["dims"]:
            top = info["dims"][0]["dim"]
            for value in slider_values(args.requests, rng):
                times.append(driver.execute_async_script(MEASURE_IN_PAGE, top, float(value)))
        if args.screenshot:
            driver.find_element("id", "seed").clear()
            driver.find_element("id", "seed").send_keys(str(args.seed))
            driver.find_element("id", "random").click()
            WebDriverWait(driver, 60).until(lambda d: "prior sample" in d.find_element("id", "status").text)
            time.sleep(1.0)
            driver.save_screenshot(args.screenshot)
            print(f"screenshot: {args.screenshot}")
        return times
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", nargs="?", help="a run folder (exported to a temporary folder first)")
    parser.add_argument("--export", help="saved_models/NAME[/VERSION]")
    parser.add_argument("--requests", type=int, default=200, help="updates to time, each way")
    parser.add_argument("--browser", action="store_true", help="also time updates in headless Chromium")
    parser.add_argument("--screenshot", help="save the page (a prior sample of --seed) as this PNG; needs --browser")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--window", default="1280,900", help="browser window width,height in pixels")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    explorer = open_explorer(args.run_dir, export_dir=args.export)
    server = make_server(explorer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = address(server)
    info = explorer.model_info()
    try:
        print(f"{explorer.title}: cont {info['cont']}, disc {info['disc']}, images {info['image_shape']}, "
              f"{len(info['strip_values'])}-step strip; cores {os.sched_getaffinity(0)}")
        http_latency(url, info, 20, rng)  # warm up
        print(summary("http round trip", http_latency(url, info, args.requests, rng)))
        if args.browser:
            print(summary("browser, slider input to new image", browser_session(url, info, args, rng)))
    finally:
        server.shutdown()
        server.server_close()
        explorer.close()


if __name__ == "__main__":
    main()
