from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _onnx_models import face_image, tiny_embedder

from faceparity.errors import UsageError
from faceparity.pipeline.embedder import (
    MSG_GREY_HINT,
    MSG_INPUT_TYPE,
    MSG_MODEL_FAILED,
    MSG_MODEL_INPUT,
    MSG_MODEL_SIZE,
    MSG_OUTPUT_TYPE,
    MSG_SPEC_UNKNOWN_KEY,
    ModelSpec,
    OnnxEmbedder,
    read_model_spec,
)

pytest.importorskip("onnxruntime")


def _reference(crops: np.ndarray, path: Path, spec: ModelSpec) -> np.ndarray:
    """The model's function written out in numpy: pool 16x16 cells, flatten, project."""
    import onnx
    from onnx import numpy_helper

    weights = numpy_helper.to_array(onnx.load(str(path)).graph.initializer[0]).astype(np.float64)
    x = crops.astype(np.float64)
    if spec.channel_order == "BGR":
        x = x[..., ::-1]
    if spec.channel_order == "GREY":  # ITU-R BT.601 luma
        x = (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2])[..., np.newaxis]
    x = (x - np.asarray(spec.mean)) / np.asarray(spec.std)
    n, h, w, c = x.shape
    pooled = x.reshape(n, h // 16, 16, w // 16, 16, c).mean(axis=(2, 4))  # (n, 7, 7, c)
    flat = pooled.transpose(0, 3, 1, 2).reshape(n, -1)  # NCHW flatten order
    out = flat @ weights
    return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(),
        ModelSpec(mean=(120.0, 110.0, 100.0), std=(50.0, 60.0, 70.0), channel_order="BGR"),
        ModelSpec(layout="NHWC"),
        ModelSpec(channel_order="GREY", mean=127.0, std=128.0),
        ModelSpec(channel_order="GREY", layout="NHWC"),
    ],
)
def test_embeddings_match_a_numpy_reference(tmp_path: Path, spec: ModelSpec) -> None:
    channels = 1 if spec.channel_order == "GREY" else 3
    model = tiny_embedder(tmp_path / "m.onnx", layout=spec.layout, channels=channels)
    crops = np.stack([face_image(s, k) for s in range(3) for k in range(2)])
    embeddings, usable = OnnxEmbedder(model, spec, threads=1).embed(crops)
    assert usable.all()
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(embeddings, _reference(crops, model, spec), atol=1e-5)


def test_fixed_batch_model_is_run_in_its_batches(tmp_path: Path) -> None:
    one = OnnxEmbedder(tiny_embedder(tmp_path / "one.onnx", batch=1))
    any_ = OnnxEmbedder(tiny_embedder(tmp_path / "any.onnx"))
    crops = np.stack([face_image(s, 0) for s in range(5)])
    np.testing.assert_allclose(one.embed(crops)[0], any_.embed(crops)[0], atol=1e-6)


@pytest.mark.parametrize("batch", [1, 3])
def test_a_fixed_batch_grey_nhwc_export_matches_the_reference(tmp_path: Path, batch: int) -> None:
    """The quirks of real exports together: a fixed batch, one grey channel, NHWC."""
    spec = ModelSpec(channel_order="GREY", layout="NHWC", mean=127.0, std=128.0)
    model = tiny_embedder(tmp_path / "m.onnx", layout="NHWC", channels=1, batch=batch)
    embedder = OnnxEmbedder(model, spec, threads=1)
    assert embedder.fixed_batch == batch
    crops = np.stack([face_image(s, k) for s in range(4) for k in range(2)])  # 8 crops
    embeddings, usable = embedder.embed(crops)
    assert usable.all() and embeddings.shape == (8, 16)
    np.testing.assert_allclose(embeddings, _reference(crops, model, spec), atol=1e-5)


def test_flip_adds_the_mirrored_crop(tmp_path: Path) -> None:
    model = tiny_embedder(tmp_path / "m.onnx")
    crops = np.stack([face_image(1, 0)])
    plain = OnnxEmbedder(model).raw(crops)
    mirrored = OnnxEmbedder(model).raw(np.ascontiguousarray(crops[:, :, ::-1]))
    flipped, _ = OnnxEmbedder(model, ModelSpec(flip=True)).embed(crops)
    expected = (plain + mirrored) / np.linalg.norm(plain + mirrored)
    np.testing.assert_allclose(flipped, expected, atol=1e-6)


def test_zero_output_is_no_template(tmp_path: Path) -> None:
    model = tiny_embedder(tmp_path / "zero.onnx", output_scale=0.0)
    embeddings, usable = OnnxEmbedder(model).embed(np.stack([face_image(0, 0)]))
    assert not usable[0]
    assert (embeddings == 0).all()


def test_digest_changes_with_model_and_spec(tmp_path: Path) -> None:
    a = tiny_embedder(tmp_path / "a.onnx", seed=1)
    b = tiny_embedder(tmp_path / "b.onnx", seed=2)
    assert OnnxEmbedder(a).digest == OnnxEmbedder(a).digest
    assert OnnxEmbedder(a).digest != OnnxEmbedder(b).digest
    assert OnnxEmbedder(a).digest != OnnxEmbedder(a, ModelSpec(flip=True)).digest


def test_model_input_size_must_match_the_spec(tmp_path: Path) -> None:
    model = tiny_embedder(tmp_path / "m.onnx", size=128)
    with pytest.raises(UsageError) as err:
        OnnxEmbedder(model)
    assert str(err.value) == MSG_MODEL_SIZE.format(file=model, height=128, width=128, size=112)
    assert OnnxEmbedder(model, ModelSpec(size=128)).dimension == 16


def test_unloadable_model_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(UsageError, match="could not be loaded by onnxruntime"):
        OnnxEmbedder(bad)


def test_model_spec_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(
        'name = "facenet"\nsize = 160\nmean = 127.5\nstd = [128, 128, 128]\nlayout = "NHWC"\n',
        encoding="utf-8",
    )
    spec = read_model_spec(path)
    assert spec == ModelSpec(
        name="facenet", size=160, mean=127.5, std=(128.0, 128.0, 128.0), layout="NHWC"
    )
    assert read_model_spec(None) == ModelSpec()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sise = 112\n", MSG_SPEC_UNKNOWN_KEY.split(":")[0]),
        ('layout = "CHW"\n', 'layout: expected "NCHW" or "NHWC"'),
        ("std = 0\n", "std: expected a finite number or a list of 3, none of them 0"),
        ("std = nan\n", "std: expected a finite number or a list of 3, none of them 0"),
        ("mean = [1, inf, 2]\n", "mean: expected a finite number or a list of 3"),
        ("size = 4\n", "size: expected a whole number of pixels from 8 to 1024"),
        ("size = \n", "could not be read as TOML"),
    ],
)
def test_model_spec_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as err:
        read_model_spec(path)
    assert message.format(file=path) in str(err.value)
    assert str(path) in str(err.value)


def test_the_example_model_specs_read() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "models"
    specs = {p.name: read_model_spec(p) for p in sorted(examples.glob("*.toml"))}
    assert set(specs) == {
        "arcface-insightface.toml",
        "dlib-resnet.toml",
        "facenet-160.toml",
        "faceplugin-fr-feature.toml",
        "sface-opencv.toml",
    }
    assert specs["dlib-resnet.toml"].size == 150  # dlib's chip (test_dlib_backend.py)
    assert (specs["faceplugin-fr-feature.toml"].mean, specs["faceplugin-fr-feature.toml"].std) == (
        127.0,
        128.0,
    )
    assert specs["arcface-insightface.toml"] == ModelSpec(name="arcface (insightface)")
    assert specs["facenet-160.toml"].size == 160
    assert specs["sface-opencv.toml"].std == 1.0


def test_device_is_checked(tmp_path: Path) -> None:
    from faceparity.pipeline.embedder import MSG_BAD_DEVICE

    model = tiny_embedder(tmp_path / "m.onnx")
    with pytest.raises(UsageError) as err:
        OnnxEmbedder(model, device="gpu0")
    assert str(err.value) == MSG_BAD_DEVICE.format(device="gpu0")
    assert OnnxEmbedder(model).providers == ["CPUExecutionProvider"]
    assert OnnxEmbedder(model).device == "cpu"


def _without_cuda() -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA: the CPU-only paths are tested without it")


def test_cuda_without_cuda_is_an_error_and_auto_is_the_cpu(tmp_path: Path) -> None:
    import onnxruntime as ort

    from faceparity.pipeline.embedder import MSG_NO_CUDA

    _without_cuda()
    model = tiny_embedder(tmp_path / "m.onnx")
    for device in ("cuda", "cuda:1"):
        with pytest.raises(UsageError) as err:
            OnnxEmbedder(model, device=device)
        assert str(err.value) == MSG_NO_CUDA.format(
            device=device, available=ort.get_available_providers()
        )
    auto = OnnxEmbedder(model, device="auto")
    assert auto.device == "cpu" and auto.providers == ["CPUExecutionProvider"]


def test_cuda_that_does_not_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offered but not starting (here: offered by a stub): an error for cuda, the CPU for auto."""
    import warnings

    import onnxruntime as ort

    from faceparity.pipeline.embedder import MSG_CUDA_FAILED

    _without_cuda()
    model = tiny_embedder(tmp_path / "m.onnx")
    offered = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: offered)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # onnxruntime's own warning of the missing provider
        with pytest.raises(UsageError) as err:
            OnnxEmbedder(model, device="cuda:0")
        assert str(err.value) == MSG_CUDA_FAILED.format(file=str(model), device="cuda:0")
        auto = OnnxEmbedder(model, device="auto")
    assert auto.device == "cpu" and auto.providers == ["CPUExecutionProvider"]


def test_auto_loads_on_the_cpu_when_cuda_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CUDA session that raises (out of GPU memory, say): auto loads on the CPU."""
    import onnxruntime as ort

    real = ort.InferenceSession

    def session(path: str, options: object, providers: list[object]) -> object:
        if any("CUDA" in str(p) for p in providers):
            raise RuntimeError("CUDA failure 2: out of memory")
        return real(path, options, providers=providers)

    model = tiny_embedder(tmp_path / "m.onnx")
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", session)
    auto = OnnxEmbedder(model, device="auto")
    assert auto.device == "cpu" and auto.providers == ["CPUExecutionProvider"]
    with pytest.raises(UsageError, match="out of memory"):
        OnnxEmbedder(model, device="cuda")


@pytest.mark.parametrize(
    ("input_type", "dtype", "atol"),
    [("DOUBLE", np.float64, 0.0), ("FLOAT16", np.float16, 2e-3), ("FLOAT", np.float32, 0.0)],
)
def test_a_floating_point_input_of_any_width_is_fed_in_its_type(
    tmp_path: Path, input_type: str, dtype: type, atol: float
) -> None:
    """float64 holds the float32 crops exactly (same embeddings); float16 rounds them."""
    reference = OnnxEmbedder(tiny_embedder(tmp_path / "f32.onnx"), threads=1)
    model = OnnxEmbedder(tiny_embedder(tmp_path / "m.onnx", input_type=input_type), threads=1)
    assert model.input_dtype == dtype
    crops = np.stack([face_image(s, 0) for s in range(3)])
    embeddings, usable = model.embed(crops)
    assert usable.all() and embeddings.dtype == np.float32
    np.testing.assert_allclose(embeddings, reference.embed(crops)[0], rtol=0, atol=atol)


@pytest.mark.parametrize("input_type", ["UINT8", "INT64", "BFLOAT16"])
def test_other_input_types_are_refused_by_name_when_opened(tmp_path: Path, input_type: str) -> None:
    model = tiny_embedder(tmp_path / "m.onnx", input_type=input_type)
    with pytest.raises(UsageError) as err:
        OnnxEmbedder(model)
    onnx_name = {"UINT8": "uint8", "INT64": "int64", "BFLOAT16": "bfloat16"}[input_type]
    expected = MSG_INPUT_TYPE.format(file=model, name="input", type=f"tensor({onnx_name})")
    assert str(err.value) == expected


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_a_grey_input_is_refused_unless_the_spec_says_grey(tmp_path: Path, layout: str) -> None:
    model = tiny_embedder(tmp_path / "grey.onnx", layout=layout, channels=1)
    with pytest.raises(UsageError) as err:
        OnnxEmbedder(model, ModelSpec(layout=layout))
    shape = ["N", 1, 112, 112] if layout == "NCHW" else ["N", 112, 112, 1]
    assert (
        str(err.value)
        == MSG_MODEL_INPUT.format(file=model, layout=layout, channels=3, inputs=[("input", shape)])
        + MSG_GREY_HINT
    )
    colour = tiny_embedder(tmp_path / "colour.onnx", layout=layout)
    with pytest.raises(UsageError) as err:
        OnnxEmbedder(colour, ModelSpec(layout=layout, channel_order="GREY"))
    assert "1 colour channels" in str(err.value)


def test_a_model_that_fails_on_a_batch_is_a_usage_error(tmp_path: Path) -> None:
    """A model that only runs on batches of one, though its input says any batch."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.ones((3 * 7 * 7, 4), dtype=np.float32)
    nodes = [
        helper.make_node(
            "AveragePool", ["input"], ["pooled"], kernel_shape=[16, 16], strides=[16, 16]
        ),
        helper.make_node("Reshape", ["pooled", "one_row"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "one_at_a_time",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 4])],
        initializer=[
            numpy_helper.from_array(weights, "w"),
            numpy_helper.from_array(np.array([1, 3 * 7 * 7], dtype=np.int64), "one_row"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "m.onnx"))
    embedder = OnnxEmbedder(tmp_path / "m.onnx")
    crops = np.stack([face_image(s, 0) for s in range(2)])
    with pytest.raises(UsageError) as err:
        embedder.embed(crops)
    prefix = MSG_MODEL_FAILED.format(
        file=tmp_path / "m.onnx", shape=(2, 3, 112, 112), dtype="float32", error=""
    )
    assert str(err.value).startswith(prefix)


def test_an_output_that_is_not_numbers_is_refused_when_opened(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("ReduceMean", ["input"], ["mean"], axes=[2, 3], keepdims=0),
        helper.make_node("Greater", ["mean", "zero"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "flags",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.BOOL, ["N", 3])],
        initializer=[onnx.numpy_helper.from_array(np.array(0.0, np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "m.onnx"))
    with pytest.raises(UsageError) as err:
        OnnxEmbedder(tmp_path / "m.onnx")
    assert str(err.value) == MSG_OUTPUT_TYPE.format(
        file=tmp_path / "m.onnx", name="embedding", type="tensor(bool)"
    )


REAL_EMBEDDER = Path(__file__).resolve().parents[3] / "shared" / "models" / "faceplugin"


def test_a_real_model_with_a_float64_input_gives_its_float32_embeddings(tmp_path: Path) -> None:
    """The real model, its input retyped to double and cast back to float inside."""
    source = REAL_EMBEDDER / "fr_feature.onnx"
    if not source.is_file():
        pytest.skip(f"{source} is not here")
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(source))
    (image,) = [
        i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}
    ]
    wide = helper.make_tensor_value_info(
        "image_f64",
        TensorProto.DOUBLE,
        [d.dim_value or d.dim_param for d in image.type.tensor_type.shape.dim],
    )
    model.graph.node.insert(
        0, helper.make_node("Cast", ["image_f64"], [image.name], to=TensorProto.FLOAT)
    )
    model.graph.input.remove(image)
    model.graph.input.insert(0, wide)
    onnx.save(model, str(tmp_path / "f64.onnx"))
    spec = ModelSpec(mean=127.0, std=128.0)
    crops = np.stack([face_image(s, 0) for s in range(2)])
    narrow = OnnxEmbedder(source, spec, threads=1).embed(crops)[0]
    retyped = OnnxEmbedder(tmp_path / "f64.onnx", spec, threads=1)
    assert retyped.input_dtype == np.float64
    np.testing.assert_array_equal(retyped.embed(crops)[0], narrow)
