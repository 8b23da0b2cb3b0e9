"""A TF-Serving client sends the image file it has: the export's ``encode_image`` (and ``encode_pixels`` for
raw uint8 arrays) prepares it in the graph as the run's training images were prepared, so the code it
answers equals the package's own pipeline followed by ``model.encode``, over REST and gRPC."""

import base64
import io
import json
import struct
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from jointvae_tf.core.config import DataConfig, LatentSpec, ModelConfig, RunConfig
from jointvae_tf.data.image_files import read_image
from jointvae_tf.data.preparation import Preparation, decode_in_graph, prepare_file, prepare_pixels
from jointvae_tf.run_folders.folder import RunFolder, open_run, prepare_run
from jointvae_tf.serving import export, predictor
from jointvae_tf.serving.client import GrpcClient, RestClient, RetryPolicy
from jointvae_tf.serving.local import LocalPredictor
from jointvae_tf.training.trainer import build_model
from PIL import Image, ImageDraw
from serving_stubs import ServerCore, serve_grpc, serve_rest

PATIENT = RetryPolicy(attempts=1, timeout=600)  # no time bound: this machine's 2 cores are shared
RUNS = {  # model name -> (dataset, normalisation, channels): each preparation the package has
    "shapes": ("four_shapes", "silhouette", 1),  # the Kaggle shapes' recipe: normalised at 64 px, halved
    "digits": ("mnist", "box", 1),
    "moments": ("mnist", "moments", 1),
    "affine": ("four_shapes", "affine", 1),
    "colour": ("image_folder", "none", 3),
}
PIXEL_TOLERANCE = 1 / 255 + 1e-6
"""The moments and the warp are float sums taken in another order: a prepared pixel may move by one level."""
CODE_TOLERANCE = 2e-3


def _drawing(size, seed, mode="L", dark_on_light=False, shape="stroke"):
    """A hand-drawn-looking stroke or an outlined triangle on a plain ground, as a PIL image."""
    rng = np.random.default_rng(seed)
    width, height = size
    ground, ink = (235, 30) if dark_on_light else (0, 255)
    if mode == "RGB":
        ground, ink = (ground, ground - 10, ground - 25), (ink, max(ink - 60, 0), ink // 2)
    image = Image.new(mode, size, ground)
    draw = ImageDraw.Draw(image)
    points = [tuple(rng.uniform([0.2 * width, 0.2 * height], [0.8 * width, 0.8 * height])) for _ in range(4)]
    if shape == "stroke":
        draw.line(points, fill=ink, width=max(1, width // 12))
    else:
        draw.polygon(points[:3], outline=ink, width=max(1, width // 25))
    return image


def _file(image, format, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **kwargs)
    return buffer.getvalue()


def _transparent_png(mode) -> bytes:
    """A drawing whose ground is transparent (RGBA), or a palette image with a transparent entry (P)."""
    drawing = _drawing((48, 48), 6, "RGB")
    if mode == "RGBA":
        alpha = Image.fromarray(np.asarray(drawing.convert("L")))  # graded: the ink half transparent
        drawing.putalpha(alpha)
        return _file(drawing, "PNG")
    return _file(drawing.convert("P", palette=Image.Palette.ADAPTIVE, colors=8), "PNG", transparency=0)


def _sixteen_bit_png() -> bytes:
    levels = np.asarray(_drawing((40, 40), 5)).astype(np.uint16) * 257
    return _file(Image.fromarray(levels), "PNG")


def _sixteen_bit_colour_png(alpha=False) -> bytes:
    """A 16-bit RGB (or RGBA) PNG whose low bytes differ from its high bytes; Pillow writes no 16-bit colour,
    so libpng (TensorFlow's encoder) writes it."""
    levels = np.asarray(_drawing((36, 30), 8, "RGB", dark_on_light=True)).astype(np.uint16) * 257 - 77
    if alpha:
        levels = np.concatenate([levels, np.linspace(20000, 65535, 36)[None, :, None].repeat(30, 0)], -1)
    return tf.io.encode_png(levels.astype(np.uint16)).numpy()


def _colour_key_png(mode) -> bytes:
    """A drawing on a dark ground, whose ground colour is the PNG's colour key (a tRNS chunk): transparent,
    so shown over white, it turns into dark ink on white."""
    drawing = _drawing((44, 44), 9, mode)
    ground = drawing.getpixel((0, 0))
    return _file(drawing, "PNG", transparency=ground)


def _grey_alpha_png() -> bytes:
    """A grey drawing with an alpha band (mode LA) fading from transparent on the left to opaque."""
    drawing = _drawing((40, 40), 10)
    alpha = Image.fromarray(np.linspace(0, 255, 40).astype(np.uint8)[None, :].repeat(40, 0))
    return _file(Image.merge("LA", [drawing, alpha]), "PNG")


def _cmyk_jpeg() -> bytes:
    """A print-ready CMYK JPEG: the ink in the black plate, a pale cyan ground (Pillow writes Adobe's
    inverted CMYK, as Photoshop does)."""
    ink = np.asarray(_drawing((50, 50), 11))
    plates = [np.full_like(ink, 40), np.zeros_like(ink), np.zeros_like(ink), ink]
    return _file(Image.merge("CMYK", [Image.fromarray(plate) for plate in plates]), "JPEG", quality=95)


def _bmp_with_alpha(masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000)) -> bytes:
    """A 32-bit BMP with an alpha bit field in a BITMAPV5HEADER, as GIMP and Windows write one with
    transparency (Pillow writes 32-bit BMPs without the field, so the header is written here)."""
    drawing = _drawing((30, 26), 12, "RGB")
    alpha = np.asarray(drawing.convert("L"))[..., None]  # the ground transparent, the ink opaque
    pixels = np.concatenate([np.asarray(drawing), alpha], -1)
    channel = {mask: index for index, mask in enumerate(masks)}  # where each of B, G, R, A goes in a pixel
    order = [channel[0xFF], channel[0xFF00], channel[0xFF0000], channel[0xFF000000]]
    rows = pixels[::-1][..., order].tobytes()  # bottom-up rows, each pixel's bytes as its masks place them
    info = struct.pack("<IiiHHIIiiII", 124, 26, 30, 1, 32, 3, len(rows), 2835, 2835, 0, 0)
    info += struct.pack("<IIII", *masks) + b"sRGB"[::-1] + bytes(124 - 60)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(rows), 0, 0, 14 + len(info)) + info + rows


FILES = {
    "mnist digit, 28x28 grey PNG": _file(_drawing((28, 28), 0), "PNG"),
    "math symbol, 45x45 JPEG, dark on light": _file(_drawing((45, 45), 1, dark_on_light=True), "JPEG", quality=90),
    "Kaggle shape, 200x200 PNG": _file(_drawing((200, 200), 2, shape="triangle"), "PNG"),
    "photo of a drawing, 120x90 RGB PNG on paper": _file(_drawing((120, 90), 3, "RGB", True, "triangle"), "PNG"),
    "64x64 RGB BMP": _file(_drawing((64, 64), 4, "RGB"), "BMP"),
    "16-bit grey PNG": _sixteen_bit_png(),
    "RGBA PNG, transparent ground": _transparent_png("RGBA"),
    "palette PNG with a transparent entry": _transparent_png("P"),
    "RGB PNG with a colour key": _colour_key_png("RGB"),
    "grey PNG with a colour key": _colour_key_png("L"),
    "grey + alpha PNG": _grey_alpha_png(),
    "16-bit RGB PNG": _sixteen_bit_colour_png(),
    "16-bit RGBA PNG": _sixteen_bit_colour_png(alpha=True),
    "CMYK JPEG": _cmyk_jpeg(),
    "32-bit BMP with an alpha bit field": _bmp_with_alpha(),
    "8-bit grey BMP": _file(_drawing((28, 28), 13), "BMP"),
}


def _run(directory, dataset, normalize, channels) -> str:
    run = RunConfig(data=DataConfig(name=dataset, normalize=normalize),
                    model=ModelConfig(image_size=32, channels=channels, latent=LatentSpec(3, (4,))))
    prepare_run(run, directory, resume=False)
    RunFolder(directory).checkpointer(build_model(run)).save(0)
    return directory


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``(exports, rest address, grpc address)``: one export per entry of RUNS, served by the stand-ins."""
    root = tmp_path_factory.mktemp("images")
    exports = {name: export.export_run(_run(str(root / name), *settings), out=str(root / "models"), name=name)
               for name, settings in RUNS.items()}
    core = ServerCore({name: str(root / "models" / name) for name in RUNS}, rest_timeout_seconds=600)
    with serve_rest(core) as rest, serve_grpc(core) as grpc_address:
        yield exports, rest, grpc_address


def _expected(export_dir, prepared: np.ndarray) -> dict:
    """The package's way: ``model.encode`` of the images its own pipeline prepared (uint8 ``[N, H, W, C]``)."""
    model = open_run(export.ExportConfig.load(export_dir).run_dir).model
    encoding = model.encode(prepared.astype(np.float32) / 255.0)
    return {"input_images": prepared.astype(np.float32) / 255.0, "z_mean": encoding.mean.numpy(),
            "probabilities": tf.nn.softmax(encoding.logits[0]).numpy()}


def _assert_same_code(answer: dict, expected: dict):
    difference = np.abs(answer["input_images"] - expected["input_images"])
    assert difference.max() <= PIXEL_TOLERANCE and (difference > 1e-4).mean() < 0.01  # x / 255 may be x * (1 / 255)
    np.testing.assert_allclose(answer["z_mean"], expected["z_mean"], atol=CODE_TOLERANCE)
    np.testing.assert_allclose(answer["probabilities"], expected["probabilities"], atol=CODE_TOLERANCE)


@pytest.mark.parametrize("name", list(RUNS))
def test_the_export_records_its_preparation(served, name):
    dataset, normalize, channels = RUNS[name]
    supersample = 2 if dataset == "four_shapes" and normalize != "none" else 1
    config = export.ExportConfig.load(served[0][name])
    assert config.preparation == Preparation(32, channels, normalize, supersample)
    assert {"encode", "encode_image", "encode_pixels"} <= set(config.signatures)


@pytest.mark.parametrize("name", list(RUNS))
@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_a_served_image_file_is_encoded_as_the_package_prepares_it(served, name, protocol):
    exports, rest, grpc_address = served
    preparation = export.ExportConfig.load(exports[name]).preparation
    client = RestClient(rest, name, retry=PATIENT) if protocol == "rest" else GrpcClient(grpc_address, name,
                                                                                           retry=PATIENT)
    files = list(FILES.values())
    answer = client.predict({"images_bytes": np.array(files, dtype=object)}, "encode_image")
    expected = _expected(exports[name], np.stack([prepare_file(data, preparation) for data in files]))
    _assert_same_code(answer, expected)
    assert answer["input_images"].shape == (len(files), 32, 32, preparation.channels)


@pytest.mark.parametrize("name", ["digits", "colour"])
def test_raw_uint8_pixels_of_any_size_are_prepared_in_the_graph(served, name):
    exports, rest, _ = served
    preparation = export.ExportConfig.load(exports[name]).preparation
    for mode, size in (("L", (28, 28)), ("RGB", (50, 50))):
        pixels = np.stack([np.asarray(_drawing(size, seed, mode, dark_on_light=bool(seed % 2)))
                           for seed in range(3)]).reshape(3, *size[::-1], len(mode))
        answer = RestClient(rest, name, retry=PATIENT).predict({"pixels": pixels}, "encode_pixels")
        _assert_same_code(answer, _expected(exports[name], prepare_pixels(pixels, preparation)))


def test_a_png_posted_as_base64_json_gets_its_category(served):
    """What ``curl -d @request.json http://HOST:8501/v1/models/NAME:predict`` sends and gets back."""
    exports, rest, _ = served
    data = FILES["Kaggle shape, 200x200 PNG"]
    body = {"signature_name": "encode_image", "instances": [{"b64": base64.b64encode(data).decode()}]}
    request = urllib.request.Request(f"{rest}/v1/models/shapes:predict", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        answer = json.loads(response.read())["predictions"][0]
    preparation = export.ExportConfig.load(exports["shapes"]).preparation
    expected = _expected(exports["shapes"], prepare_file(data, preparation)[None])
    category = int(np.argmax(expected["probabilities"][0]))
    assert answer["categories"] == [category]
    assert answer["category_names"] == [export.ExportConfig.load(exports["shapes"]).category_classes[0][category]]
    np.testing.assert_allclose(answer["z_mean"], expected["z_mean"][0], atol=CODE_TOLERANCE)


@pytest.mark.parametrize("data, message", [
    (b"not an image", "not a PNG, JPEG or BMP file"),
    (_file(_drawing((20, 20), 7), "GIF"), "not a PNG, JPEG or BMP file"),  # as the package's own reader
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01\x00\x00\x00\x01\x00\x00\x08\x00\x00\x00\x00",
     "over the limit"),  # the header of a 65536 x 65536 PNG: refused before decoding
])
def test_a_file_that_is_not_an_image_or_too_large_is_refused(served, data, message):
    exports, rest, _ = served
    with pytest.raises(Exception, match=f"rejected the encode_image request .*{message}"):
        RestClient(rest, "digits", retry=PATIENT).predict({"images_bytes": np.array([data], object)}, "encode_image")


def test_each_file_is_read_in_the_graph_as_the_package_reads_it():
    """Before any preparation: every kind of file above decodes in the graph to the package reader's
    pixels (PIL's), in grey and in colour; a CMYK JPEG to within a grey level."""
    for name, data in FILES.items():
        for channels in (1, 3):
            expected = read_image(data, channels, name).astype(int)
            found = decode_in_graph(tf.constant(data), channels).numpy().astype(int)
            assert found.shape == expected.shape, name
            assert np.abs(found - expected).max() <= (1 if name == "CMYK JPEG" else 0), (name, channels)


@pytest.mark.parametrize("data", [
    _file(_drawing((24, 24), 14, "RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=8), "BMP"),
    _file(_drawing((24, 24), 15).convert("1"), "BMP"),
    _bmp_with_alpha(masks=(0xFF, 0xFF00, 0xFF0000, 0xFF000000)),  # bytes R, G, B, A: PIL reads them as such
], ids=["colour palette", "1 bit", "RGBA bit fields"])
def test_a_bmp_the_graph_would_read_otherwise_than_the_package_is_refused(served, data):
    """TensorFlow's BMP decoder reads palette indices as grey, no 1-bit images, and bit fields as BGR(A):
    the served signature refuses those files, naming the layout, instead of encoding another image."""
    read_image(data, 3)  # the package reads it
    with pytest.raises(Exception, match="rejected the encode_image request .*BMP layout not decoded in the graph, "
                                        r"send PNG: bits\] \[(1|8|32)\] \[compression\]"):
        RestClient(served[1], "colour", retry=PATIENT).predict({"images_bytes": np.array([data], object)},
                                                               "encode_image")


def test_categories_are_named_by_the_labelled_validation_images(served):
    """four_shapes renders labelled validation images: each category is named by the majority class of the
    images encoded into it, and a class name asks for its purest category."""
    exports, rest, grpc_address = served
    config = export.ExportConfig.load(exports["shapes"])
    (classes,), (purity,) = config.category_classes, config.category_purity
    named = [name for name in classes if name]
    assert named and set(named) <= {"circle", "square", "star", "triangle"}
    name = named[0]
    purest = max((k for k, held in enumerate(classes) if held == name), key=lambda k: purity[k])
    for client in (RestClient(rest, "shapes", retry=PATIENT), GrpcClient(grpc_address, "shapes", retry=PATIENT)):
        assert predictor.category_of_class(client, name) == [purest]
        drawn = predictor.sample(client, 3, seed=1, category=name)
        assert drawn["categories"].tolist() == [[purest]] * 3
        assert [n.decode() for n in drawn["category_names"][:, 0]] == [name] * 3
        encoded = client.predict({"images_bytes": np.array(list(FILES.values()), object)}, "encode_image")
        names = [classes[k] for k in encoded["categories"][:, 0]]
        assert [n.decode() for n in encoded["category_names"][:, 0]] == names
        with pytest.raises(Exception, match="no category holds class 'hexagon'; the categories hold"):
            predictor.sample(client, 1, category="hexagon")
    local = LocalPredictor(exports["shapes"])
    assert predictor.sample(local, 2, category=name)["categories"].tolist() == [[purest]] * 2


def test_an_export_without_labelled_images_names_no_category(served):
    exports, rest, _ = served
    config = export.ExportConfig.load(exports["digits"])  # mnist is not downloaded here: no validation images
    assert config.category_classes == () and config.category_purity == ()
    client = RestClient(rest, "digits", retry=PATIENT)
    assert predictor.sample(client, 1)["category_names"].tolist() == [[b""]]
    with pytest.raises(Exception, match="no category holds class '7'; the categories hold none"):
        predictor.category_of_class(client, "7")
