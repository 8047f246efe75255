"""Opening an ONNX model: the errors a user sees name the file and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
from _detect_models import save_model, scrfd_outputs  # noqa: E402

from faceparity.errors import UsageError  # noqa: E402
from faceparity.pipeline.detect import (  # noqa: E402
    MODEL_FAILED,
    MODEL_INPUT_EXPECTED,
    MODEL_MISSING,
    MODEL_UNREADABLE,
    OUTPUT_SHAPE_EXPECTED,
    PROVIDER_UNAVAILABLE,
    THREADS_EXPECTED,
    OnnxModel,
)
from faceparity.pipeline.detect.session import MSG_INPUT_TYPE, default_threads  # noqa: E402


def test_opens_a_model_and_reads_its_shapes(tmp_path) -> None:
    path = save_model(tmp_path / "m.onnx", scrfd_outputs([], keypoints=False))
    model = OnnxModel.open(path, threads=1)
    assert model.input_name == "input.1"
    assert model.input_shape == (1, 3, 32, 32)
    assert model.fixed_size == (32, 32)
    assert model.output_names == (
        "score_8",
        "score_16",
        "score_32",
        "bbox_8",
        "bbox_16",
        "bbox_32",
    )
    assert model.output_shapes[0] == (1, 32, 1) and model.output_shapes[3] == (1, 32, 4)
    assert model.providers == ("CPUExecutionProvider",)
    out = model.run(np.zeros((1, 3, 32, 32), np.float32))
    assert list(out) == list(model.output_names)
    assert out["bbox_16"].shape == (1, 8, 4)


def test_free_dimensions_are_none(tmp_path) -> None:
    path = save_model(tmp_path / "m.onnx", scrfd_outputs([]), input_shape=("n", 3, "h", "w"))
    model = OnnxModel.open(path)
    assert model.input_shape == (None, 3, None, None)
    assert model.fixed_size is None


def test_missing_file(tmp_path) -> None:
    with pytest.raises(UsageError) as err:
        OnnxModel.open(tmp_path / "nothing.onnx")
    assert str(err.value) == MODEL_MISSING.format(path=tmp_path / "nothing.onnx")


def test_corrupt_file(tmp_path) -> None:
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"this is not a protobuf")
    with pytest.raises(UsageError) as err:
        OnnxModel.open(path)
    prefix = MODEL_UNREADABLE.format(path=path, reason="")
    assert str(err.value).startswith(prefix)
    assert "\n" not in str(err.value) and len(str(err.value)) > len(prefix)


def test_two_inputs_are_not_an_image_model(tmp_path) -> None:
    path = save_model(tmp_path / "two.onnx", scrfd_outputs([]), extra_inputs=1)
    with pytest.raises(UsageError) as err:
        OnnxModel.open(path)
    assert str(err.value) == MODEL_INPUT_EXPECTED.format(
        path=path, got="input.1 [1, 3, 32, 32], extra0 [1]"
    )


def test_grey_input_is_not_an_rgb_model(tmp_path) -> None:
    path = save_model(tmp_path / "grey.onnx", scrfd_outputs([]), input_shape=(1, 1, 32, 32))
    with pytest.raises(UsageError) as err:
        OnnxModel.open(path)
    assert str(err.value) == MODEL_INPUT_EXPECTED.format(path=path, got="input.1 [1, 1, 32, 32]")


def test_unavailable_provider(tmp_path) -> None:
    path = save_model(tmp_path / "m.onnx", scrfd_outputs([]))
    with pytest.raises(UsageError) as err:
        OnnxModel.open(path, providers=["NoSuchExecutionProvider"])
    assert str(err.value) == PROVIDER_UNAVAILABLE.format(
        provider="NoSuchExecutionProvider", available=", ".join(ort.get_available_providers())
    )
    # A provider with its options (as a CUDA device number is given) is checked by name.
    with pytest.raises(UsageError) as err:
        OnnxModel.open(path, providers=[("NoSuchExecutionProvider", {"device_id": 1})])
    assert "NoSuchExecutionProvider" in str(err.value)
    model = OnnxModel.open(path, providers=[("CPUExecutionProvider", {})])
    assert model.providers == ("CPUExecutionProvider",)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_threads_must_be_positive_whole(tmp_path, threads) -> None:
    path = save_model(tmp_path / "m.onnx", scrfd_outputs([]))
    with pytest.raises(UsageError) as err:
        OnnxModel.open(path, threads=threads)
    assert str(err.value) == THREADS_EXPECTED.format(got=threads)


def test_default_threads_is_every_cpu() -> None:
    assert default_threads() >= 1


def test_run_failure_names_the_file(tmp_path) -> None:
    path = save_model(tmp_path / "m.onnx", scrfd_outputs([]))
    model = OnnxModel.open(path)
    with pytest.raises(UsageError) as err:
        model.run(np.zeros((1, 3, 16, 16), np.float32))
    assert str(err.value).startswith(
        MODEL_FAILED.format(path=path, shape=(1, 3, 16, 16), reason="")
    )


def test_rows_checks_the_size(tmp_path) -> None:
    model = OnnxModel.open(save_model(tmp_path / "m.onnx", scrfd_outputs([])))
    value = np.arange(8, dtype=np.float32).reshape(1, 2, 4)
    table = model.rows(value, name="x", rows=2, cols=4, size=(8, 8), layout="test")
    assert table.dtype == np.float32 and table.shape == (2, 4)
    assert np.shares_memory(table, value)  # a view: only the rows kept are converted
    with pytest.raises(UsageError) as err:
        model.rows(value, name="x", rows=4, cols=4, size=(8, 8), layout="test")
    assert str(err.value) == OUTPUT_SHAPE_EXPECTED.format(
        path=model.path,
        name="x",
        rows=4,
        cols=4,
        width=8,
        height=8,
        layout="test",
        got=(1, 2, 4),
    )


@pytest.mark.parametrize(("input_type", "dtype"), [("DOUBLE", np.float64), ("FLOAT16", np.float16)])
def test_a_detector_with_a_float64_or_float16_input_is_fed_in_its_type(
    tmp_path, input_type: str, dtype: type
) -> None:
    outputs = scrfd_outputs([], keypoints=False)
    narrow = OnnxModel.open(save_model(tmp_path / "f32.onnx", outputs), threads=1)
    path = save_model(tmp_path / "m.onnx", outputs, input_type=input_type)
    model = OnnxModel.open(path, threads=1)
    assert model.input_dtype == dtype and narrow.input_dtype == np.float32
    blob = np.full((1, 3, 32, 32), 0.5, np.float32)
    got, expected = model.run(blob), narrow.run(blob)
    assert list(got) == list(expected)
    for name in got:
        np.testing.assert_array_equal(got[name], expected[name])


def test_a_detector_with_an_integer_input_is_refused_by_name(tmp_path) -> None:
    path = save_model(tmp_path / "m.onnx", scrfd_outputs([]), input_type="UINT8")
    with pytest.raises(UsageError) as err:
        OnnxModel.open(path)
    assert str(err.value) == MSG_INPUT_TYPE.format(file=path, name="input.1", type="tensor(uint8)")
