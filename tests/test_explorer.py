"""`jvae-tf explore`'s JSON endpoints answer from the export's signatures, for a tiny trained model.

Every picture the server sends must be the export's own decode of the code asked for; sliders are ordered
by the KL measured on held-out images; bad requests get a 400 with a one-line message.
"""

import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from explorer_fixtures import HELD_OUT, call, explored, pixels, serving, shape_file  # noqa: F401 (fixture)
from jointvae_tf.cli.main import main
from serving_stubs import ServerCore, serve_grpc, serve_rest

from jointvae_tf.core import latents
from jointvae_tf.core.config import LatentSpec, RunConfig
from jointvae_tf.data.resize import fit_image
from jointvae_tf.errors import JointVAEError
from jointvae_tf.evaluation.inference import encode_dataset
from jointvae_tf.evaluation.report import load_split
from jointvae_tf.run_folders.folder import open_run
from jointvae_tf.serving import export
from jointvae_tf.serving.explorer import make_server, open_explorer
from jointvae_tf.serving.explorer.app import MAX_UPLOAD_BYTES, Explorer, layout_from_signatures, model_input
from jointvae_tf.serving.predictor import Signature, TensorInfo, sample
from jointvae_tf.serving.sources import ModelSource, open_predictor

JSON = "application/json"
SERVED_HELD_OUT = 32
"""Held-out images measured through the TF-Serving stand-ins (JSON of floats: kept small)."""


def test_model_info_orders_sliders_by_held_out_kl_and_names_categories_by_majority_class(explored):
    status, info = call(explored.url + "api/model")
    assert status == 200
    assert (info["cont"], info["disc"], info["image_shape"]) == (3, [4], [32, 32, 1])
    run = RunConfig.load(os.path.join(explored.run_dir, "config.json"))
    examples = load_split(run, "validation", HELD_OUT)
    summary = encode_dataset(open_run(explored.run_dir).model, examples.images.astype(np.float32) / 255.0)
    kl = [d["kl"] for d in info["dims"]]
    assert [d["dim"] for d in info["dims"]] == list(np.argsort(-summary.kl_cont, kind="stable"))
    np.testing.assert_allclose(kl, summary.kl_cont[[d["dim"] for d in info["dims"]]], rtol=1e-3, atol=1e-6)
    assert kl == sorted(kl, reverse=True)
    for d in info["dims"]:
        assert d["label"] == f"z{d['dim']} KL {d['kl']:.2f}" and d["active"] == (d["kl"] > 0.01)
    names = export.ExportConfig.load(explored.export_dir).category_classes[0]  # the export's, as its clients see
    assert info["variables"][0]["categories"] == [f"{j} {name}".rstrip() for j, name in enumerate(names)]
    assert any(name in ("circle", "square", "star", "triangle") for name in names)
    assert info["held_out"] == f"{HELD_OUT} validation images of four_shapes"
    np.testing.assert_allclose(info["strip_values"], latents.prior_quantiles(10), atol=1e-4)


def test_decode_is_the_exports_decode_of_the_code(explored):
    z, c = [0.7, -1.2, 2.5], [2]
    status, answer = call(explored.url + "api/decode", {"z": z, "c": c})
    assert status == 200 and set(answer) == {"image"}
    np.testing.assert_allclose(pixels(answer["image"]), explored.decode([z], [c])[0], atol=1)


def test_a_code_takes_class_names_and_answers_name_each_category(explored, tmp_path):
    """A class name in a code stands for the purest category holding it, the row `jvae-tf sample --category`
    asks for; codes handed out say which class each category holds."""
    config = export.ExportConfig.load(explored.export_dir)
    (classes,), (purity,) = config.category_classes, config.category_purity
    known = sorted({name for name in classes if name})
    name = known[0]
    purest = max((k for k, held in enumerate(classes) if held == name), key=lambda k: purity[k])
    info = call(explored.url + "api/model")[1]
    assert info["classes"] == {held: [max((k for k, c in enumerate(classes) if c == held), key=lambda k: purity[k])]
                               for held in known}
    z = [0.7, -1.2, 2.5]
    assert call(explored.url + "api/decode", {"z": z, "c": [name]}) == call(explored.url + "api/decode",
                                                                            {"z": z, "c": [purest]})
    drawn = call(explored.url + "api/sample", {"seed": 5})[1]
    assert drawn["c_names"] == [classes[drawn["c"][0]]]
    code = call(explored.url + "api/encode", open(shape_file(str(tmp_path / "t.png")), "rb").read(), "image/png")[1]
    assert code["c_names"] == [classes[code["c"][0]]]
    status, answer = call(explored.url + "api/views", {"z": z, "c": ["hexagon"], "dim": 0})
    assert (status, answer["error"]) == (400, f'c: no category of c0 holds class "hexagon"; its categories hold '
                                              f'{", ".join(known)}')


def test_views_are_the_strip_and_the_categories_of_the_code(explored):
    z, c, dim = [0.7, -1.2, 2.5], [2], 1
    status, view = call(explored.url + "api/views", {"z": z, "c": c, "dim": dim})
    assert status == 200
    values = latents.prior_quantiles(10)
    swept = np.repeat([z], 10, axis=0)
    swept[:, dim] = values
    expected_strip = explored.decode(swept, np.repeat([c], 10, axis=0))
    assert view["strip"]["dim"] == dim and view["strip"]["mode"] == "code" and len(view["strip"]["images"]) == 10
    for image, expected in zip(view["strip"]["images"], expected_strip):
        np.testing.assert_allclose(pixels(image), expected, atol=1)
    expected_row = explored.decode(np.repeat([z], 4, axis=0), np.arange(4)[:, None])
    assert len(view["categories"]) == 1 and len(view["categories"][0]) == 4
    for image, expected in zip(view["categories"][0], expected_row):
        np.testing.assert_allclose(pixels(image), expected, atol=1)
    assert not np.array_equal(pixels(view["categories"][0][0]), pixels(view["categories"][0][3]))


def test_prior_strip_is_the_traverse_signature(explored):
    status, view = call(explored.url + "api/views", {"z": [0.7, -1.2, 2.5], "c": [3], "dim": 2, "strip": "prior"})
    assert status == 200
    import tensorflow as tf

    expected = explored.loaded.signatures["traverse"](dim=tf.constant([2]), category=tf.constant([[3]]))["images"][0]
    for image, want in zip(view["strip"]["images"], expected.numpy()):
        np.testing.assert_allclose(pixels(image), np.round(np.clip(want, 0, 1) * 255), atol=1)


def test_random_is_the_sample_signature_for_the_seed(explored):
    status, drawn = call(explored.url + "api/sample", {"seed": 41})
    assert status == 200
    expected = sample(explored.explorer.predictor, 1, seed=41)
    np.testing.assert_allclose(drawn["z"], expected["z"][0], atol=1e-4)
    assert drawn["c"] == expected["categories"][0].tolist() and drawn["seed"] == 41
    assert call(explored.url + "api/sample", {"seed": 41})[1] == drawn
    assert call(explored.url + "api/sample", {"seed": 42})[1]["z"] != drawn["z"]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_upload_of_any_size_is_encoded_through_the_data_pipeline(explored, tmp_path, fmt):
    path = shape_file(str(tmp_path / f"shape.{fmt.lower()}"), (300, 200), fmt)
    with open(path, "rb") as f:
        status, code = call(explored.url + "api/encode", f.read(), f"image/{fmt.lower()}")
    assert status == 200
    from PIL import Image

    with Image.open(path) as image:
        prepared = fit_image(np.asarray(image.convert("L"))[:, :, None], 32, 1)
    np.testing.assert_array_equal(pixels(code["input"]), prepared)
    expected = explored.encode(prepared)
    np.testing.assert_allclose(code["z"], expected["z_mean"], atol=1e-4)
    assert code["c"] == expected["categories"].tolist()
    np.testing.assert_allclose(code["probabilities"][0], expected["probabilities"], atol=1e-4)


def test_uploads_get_the_runs_normalisation(explored, tmp_path):
    with open(shape_file(str(tmp_path / "shape.png")), "rb") as f:
        data = f.read()
    normalizing = Explorer(explored.explorer.predictor, explored.explorer.layout, normalize="affine")
    plain = model_input(data, (32, 32, 1))
    normalized = model_input(data, (32, 32, 1), "affine")
    assert not np.array_equal(plain, normalized)
    np.testing.assert_array_equal(pixels(normalizing.encode(data)["input"]), normalized)


@pytest.mark.parametrize("path, body, message", [
    ("api/decode", {"z": [0, 0], "c": [0]}, "z: expected 3 finite numbers"),
    ("api/decode", {"z": [0, 0, "a"], "c": [0]}, "z: expected 3 finite numbers"),
    ("api/decode", {"z": [0, 0, 0], "c": [4]}, "c: expected 1 category ids"),
    ("api/views", {"z": [0, 0, 0, 0], "c": [0]}, "z: expected 3 finite numbers"),
    ("api/views", {"z": [0, 0, 0], "c": [0], "dim": 3}, "dim: expected a continuous dim 0 .. 2"),
    ("api/views", {"z": [0, 0, 0], "c": [0], "dim": 0, "strip": "sideways"}, "strip: expected one of"),
    ("api/decode", b"{not json", "request body: expected JSON"),
    ("api/decode", b"[1, 2]", "request body: expected a JSON object"),
    ("api/sample", {"seed": "seven"}, "seed: expected an integer"),
    ("api/encode", b"plain text, not a picture", "upload: not an image file; expected a PNG or JPEG"),
    ("api/encode", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "upload: "),
    ("api/encode", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "upload: "),
])
def test_bad_requests_get_400_and_one_line(explored, path, body, message):
    status, answer = call(explored.url + path, body, "application/octet-stream" if path == "api/encode" else JSON)
    assert status == 400
    assert answer["error"].startswith(message) and "\n" not in answer["error"] and "Traceback" not in answer["error"]


def test_gif_upload_is_refused_by_format(explored, tmp_path):
    from PIL import Image

    Image.new("L", (40, 40), 255).save(tmp_path / "white.gif")
    status, answer = call(explored.url + "api/encode", (tmp_path / "white.gif").read_bytes(), "image/gif")
    assert (status, answer["error"]) == (400, "upload: a GIF image; expected a PNG or JPEG")


def test_upload_over_10_mb_gets_400(explored):
    status, answer = call(explored.url + "api/encode", b"\0" * (MAX_UPLOAD_BYTES + 1), "image/png")
    assert (status, answer["error"]) == (400, "upload: 10.0 MB is over the 10 MB limit")
    assert call(explored.url + "api/model")[0] == 200  # and the server goes on


def test_unknown_path_is_404(explored):
    status, answer = call(explored.url + "api/nothing")
    assert status == 404 and "no such page" in answer["error"]


def test_page_is_served_from_the_package_and_fetches_nothing_elsewhere(explored):
    import urllib.request

    with urllib.request.urlopen(explored.url) as response:
        page = response.read().decode()
        assert response.headers["Content-Type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert {"/static/explorer.css", "/static/explorer.js"} <= set(assets)
    assert all(a.startswith("/static/") or a in ("#", "data:,") for a in assets), assets
    for asset in ("/static/explorer.css", "/static/explorer.js"):
        with urllib.request.urlopen(explored.url + asset[1:]) as response:
            text = response.read().decode()
        assert "http:" not in text and "https:" not in text, asset


def test_server_binds_to_loopback_by_default(explored):
    server = make_server(explored.explorer)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_a_served_model_answers_as_the_local_export(explored, transport):
    core = ServerCore({"jointvae": os.path.dirname(explored.export_dir)})
    stub = serve_rest if transport == "rest" else serve_grpc
    local = open_explorer(open_predictor(explored.export_dir), max_examples=SERVED_HELD_OUT)
    with stub(core) as where:
        explorer = open_explorer(open_predictor(ModelSource(transport, where)), explored.run_dir, SERVED_HELD_OUT)
        try:
            served_dims, local_dims = explorer.model_info()["dims"], local.model_info()["dims"]
            assert [d["dim"] for d in served_dims] == [d["dim"] for d in local_dims]
            np.testing.assert_allclose([d["kl"] for d in served_dims], [d["kl"] for d in local_dims], rtol=1e-4)
            with serving(explorer) as url:
                status, answer = call(url + "api/decode", {"z": [0.3, 1.0, -2.0], "c": [1]})
                assert status == 200
                np.testing.assert_allclose(pixels(answer["image"]), explored.decode([[0.3, 1.0, -2.0]], [[1]])[0],
                                           atol=1)
                status, view = call(url + "api/views", {"z": [0.3, 1.0, -2.0], "c": [1], "dim": 2, "strip": "prior"})
                assert status == 200 and len(view["strip"]["images"]) == 10
                assert call(url + "api/decode", {"z": [0.3], "c": [1]})[0] == 400
        finally:
            explorer.close()


def test_served_model_without_run_folder_reads_its_layout_from_the_signatures(explored):
    with serve_rest(ServerCore({"jointvae": os.path.dirname(explored.export_dir)})) as where:
        explorer = open_explorer(open_predictor(where))
    info = explorer.model_info()
    assert (info["cont"], info["disc"]) == (3, [4]) and [d["dim"] for d in info["dims"]] == [0, 1, 2]
    assert info["held_out"].startswith("KL unknown") and all(d["kl"] is None for d in info["dims"])


def signatures(cont: int, disc_size: int, n_disc: int) -> dict[str, Signature]:
    matrix = lambda width: TensorInfo("DT_FLOAT", (-1, width))
    return {"serving_default": Signature({"z": matrix(cont), "c": matrix(disc_size)}, {}),
            "sample": Signature({"seed": TensorInfo("DT_INT64", (-1,)), "category": TensorInfo("DT_INT32", (-1, n_disc))}, {}),
            "encode": Signature({"images": TensorInfo("DT_FLOAT", (-1, 64, 64, 3))}, {})}


def test_layout_from_signatures_needs_the_run_for_several_discrete_variables():
    assert layout_from_signatures(signatures(5, 8, 1), "m").spec == LatentSpec(5, (8,))
    assert layout_from_signatures(signatures(0, 8, 1), "m").image_shape == (64, 64, 3)
    assert layout_from_signatures(signatures(5, 13, 2), "m", LatentSpec(5, (10, 3))).spec == LatentSpec(5, (10, 3))
    with pytest.raises(JointVAEError, match="pass the model's run folder"):
        layout_from_signatures(signatures(5, 13, 2), "m")
    with pytest.raises(JointVAEError, match="the run or export config says cont 4"):
        layout_from_signatures(signatures(5, 13, 2), "m", LatentSpec(4, (10, 3)))
    with pytest.raises(JointVAEError, match="no signature encode"):
        layout_from_signatures({k: v for k, v in signatures(5, 8, 1).items() if k != "encode"}, "m")


@pytest.mark.parametrize("args, message", [
    ([], "expected RUN_DIR or one of --export, --server, --grpc, got none"),
    (["--export", "x", "--server", "http://localhost:1"], "got --export and --server"),
    (["no/such/run"], "RUN_DIR: no/such/run: no such folder"),
    (["--export", "no/such/export"], "--export: no/such/export: no SavedModel here"),
])
def test_bad_command_lines_are_one_line_and_exit_code_2(args, message):
    result = CliRunner().invoke(main, ["explore", "--no-open", *args])
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_command_prints_its_address_answers_and_stops_on_ctrl_c(explored):
    command = os.path.join(os.path.dirname(sys.executable), "jvae-tf")
    process = subprocess.Popen([command, "explore", "--export",
                                explored.export_dir, "--port", "0", "--no-open", "--max-examples", "50"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal
    try:
        printed = []  # progress lines (reading the held-out images) may come before the address
        url = None
        while url is None and len(printed) < 50:
            printed.append(process.stdout.readline())
            url = re.search(r"(http://127\.0\.0\.1:\d+/)\?token=([\w-]{20,})", printed[-1])
            if not printed[-1]:
                break
        assert url, "".join(printed)
        base, token = url.groups()
        assert call(base + "api/model?token=" + token)[1]["cont"] == 3
        assert call(base + "api/model")[0] == 403
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 0 and "Stopped." in out and "Traceback" not in err
