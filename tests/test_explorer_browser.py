"""`jvae-tf explore`'s page in a real browser: Debian's headless Chromium driven through chromedriver.

The page must show every control, follow a dragged slider with the export's own decode of the new code,
and move the sliders to the code of an uploaded image. Without Chromium this test fails and says how to
install it (``.ci/run`` does); it is never skipped.
"""

import json
import shutil
import urllib.parse

import numpy as np
import pytest
from explorer_fixtures import call, explored, pixels, serving, shape_file  # noqa: F401 (fixture)

from jointvae_tf.data.resize import fit_image

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1000"]
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_SECONDS = 60
INSTALL = "apt-get install -y chromium chromium-driver (as .ci/run does)"


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium with a fresh profile under the test's temporary folder."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:
        pytest.fail(f"the browser test needs selenium ({error}): pip install '.[test]'")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None or shutil.which(CHROMEDRIVER) is None:
        pytest.fail(f"the browser test needs Debian's chromium and {CHROMEDRIVER} (found chromium: {binary}); "
                    f"install them with {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def page_state(driver) -> dict | None:
    """The code in the URL (what the page shares) and the code of the image on show; None before the page
    has written its URL."""
    fields = urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).fragment, keep_blank_values=True)
    if "z" not in fields:
        return None
    shown = driver.find_element("id", "image").get_attribute("data-code")
    return {"z": [float(v) for v in fields["z"][0].split(",")], "c": [int(v) for v in fields["c"][0].split(",")],
            "shown": json.loads(shown) if shown else None, "image": driver.find_element("id", "image").get_attribute("src")}


def settled(driver, condition):
    """Wait until the image on show is that of the URL's code and ``condition(state)`` holds; the state."""
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(driver):
        state = page_state(driver)
        done = state is not None and state["shown"] == {"z": state["z"], "c": state["c"]} and condition(state)
        return state if done else False

    return WebDriverWait(driver, WAIT_SECONDS).until(ready)


def test_page_controls_slider_and_upload(explored, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    info = explored.explorer.model_info()
    browser.get(explored.url)
    start = settled(browser, lambda state: state["image"].startswith("data:image/png"))
    assert start["z"] == [0.0] * 3 and start["c"] == [0]
    np.testing.assert_allclose(pixels(start["image"]), explored.decode([start["z"]], [start["c"]])[0], atol=1)

    rows = browser.find_elements("css selector", "#sliders .slider")
    assert [row.find_element("tag name", "label").text for row in rows] == [d["label"] for d in info["dims"]]
    assert [("inactive" in row.get_attribute("class")) for row in rows] == [not d["active"] for d in info["dims"]]
    options = browser.find_elements("css selector", "#pickers select option")
    assert [o.text for o in options] == info["variables"][0]["categories"]
    for control in ("random", "seed", "zero", "upload", "share", "strip-mode"):
        assert browser.find_element("id", control)
    assert len(browser.find_elements("css selector", "#strip img")) == 10
    assert len(browser.find_elements("css selector", "#categories img")) == 4

    top = info["dims"][0]["dim"]
    slider = browser.find_element("id", f"z{top}")
    ActionChains(browser).click_and_hold(slider).move_by_offset(slider.size["width"] // 3, 0).release().perform()
    moved = settled(browser, lambda state: state["z"][top] > 0.5)
    assert moved["image"] != start["image"]
    np.testing.assert_allclose(pixels(moved["image"]), explored.decode([moved["z"]], [moved["c"]])[0], atol=1)
    assert float(slider.get_attribute("value")) == pytest.approx(moved["z"][top])

    path = shape_file(str(tmp_path / "triangle.png"), (300, 200))
    browser.find_element("id", "upload").send_keys(path)
    WebDriverWait(browser, WAIT_SECONDS).until(lambda d: d.find_element("id", "uploaded").is_displayed())
    uploaded = settled(browser, lambda state: state["z"] != moved["z"])
    from PIL import Image

    with Image.open(path) as image:
        expected = explored.encode(fit_image(np.asarray(image.convert("L"))[:, :, None], 32, 1))
    np.testing.assert_allclose(uploaded["z"], expected["z_mean"], atol=1e-4)
    assert uploaded["c"] == expected["categories"].tolist()
    values = [float(browser.find_element("id", f"z{d}").get_attribute("value")) for d in range(3)]
    np.testing.assert_allclose(values, np.clip(uploaded["z"], -3, 3), atol=0.006)  # sliders step by 0.01
    np.testing.assert_allclose(pixels(uploaded["image"]), explored.decode([uploaded["z"]], [uploaded["c"]])[0], atol=1)

    screenshot = tmp_path / "explorer.png"
    assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000


def test_the_page_runs_on_the_token_of_its_address(explored, browser):
    """The token comes in the printed URL; the page's own requests carry it as the cookie the server sets."""
    with serving(explored.explorer, token="browser-token") as url:
        assert url.endswith("/?token=browser-token")
        assert call(url.split("?")[0] + "api/model")[0] == 403
        browser.get(url)
        start = settled(browser, lambda state: state["image"].startswith("data:image/png"))
        np.testing.assert_allclose(pixels(start["image"]), explored.decode([start["z"]], [start["c"]])[0], atol=1)


def test_a_link_may_name_a_category_by_the_class_it_holds(explored, browser):
    """``#c=NAME`` opens the purest category holding that class, the one `jvae-tf sample --category NAME` draws."""
    from selenium.webdriver.support.ui import WebDriverWait

    classes = sorted(explored.explorer.model_info()["classes"].items())
    name, row = next(((name, row) for name, row in classes if row[0] != 0), classes[0])  # not the page's default
    browser.get(explored.url + f"#z=0.5,0,0&c={urllib.parse.quote(name)}")
    WebDriverWait(browser, WAIT_SECONDS).until(  # the page rewrites its link with the category's id
        lambda driver: f"c={row[0]}&" in urllib.parse.urlsplit(driver.current_url).fragment + "&")
    state = settled(browser, lambda state: True)
    assert state["c"] == row and state["z"] == [0.5, 0.0, 0.0]
