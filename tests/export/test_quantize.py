"""int8 quantization internals: each graph rewrite leaves the fp32 model's answers unchanged (only
quantisation may change them), calibration reads real tokens, and the export records what was done."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from textfit import Classifier
from textfit.errors import DataError, ModelError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from textfit.export.onnx import calibration_batches, export_onnx, read_exports  # noqa: E402
from textfit.export.quantize import (  # noqa: E402
    CALIBRATION_TEXTS,
    activation_maxima,
    diagonal_to_mul,
    fold_biases,
    is_diagonal,
    is_down_projection,
    row_zero_points,
    scale_activations_per_row,
    scale_activations_statically,
    smooth,
    split_outlier_channels,
    weighted_matmuls,
)


@pytest.fixture(scope="module")
def exported(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("quantize") / "tiny"
    shutil.copytree(tiny_model_dir, folder)
    export_onnx(folder)
    classifier = Classifier.load(folder)
    batches, _ = calibration_batches(classifier, None)
    return folder, classifier, batches


def run(model, batch) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {name: batch[name] for name in names})[0]


def test_calibration_reads_the_sample_by_default_and_caps_the_count(exported, tmp_path):
    _, classifier, batches = exported
    assert sum(len(b["input_ids"]) for b in batches) == CALIBRATION_TEXTS  # the sample has more texts
    assert all(len(b["input_ids"]) <= 32 for b in batches)
    texts = tmp_path / "few.txt"
    texts.write_text("Oil prices fall\nAcme Corp announces new CEO\n")
    few, described = calibration_batches(classifier, texts)
    assert sum(len(b["input_ids"]) for b in few) == 2 and "2 texts from" in described and str(texts) in described
    _, described = calibration_batches(classifier, ["one text"])
    assert described == "1 text from texts given by the caller"
    with pytest.raises(DataError, match="not found"):
        calibration_batches(classifier, tmp_path / "missing.txt")


def test_activation_maxima_ignore_padding(exported):
    folder, classifier, _ = exported
    model = onnx.load(str(folder / "model.onnx"))
    node = weighted_matmuls(model.graph)[0]
    first = node.input[0]
    rows = next(i.dims[0] for i in model.graph.initializer if i.name == node.input[1])
    short = classifier._encode(["Oil prices fall"])
    padded = classifier._encode(["Oil prices fall", "a much longer message " * 8])
    padded = {k: v[:1] for k, v in padded.items()}  # the short text alone, padded to the long one's length
    assert padded["attention_mask"].sum() < padded["attention_mask"].size
    alone = activation_maxima(model, [short], [first])[first]
    with_padding = activation_maxima(model, [padded], [first])[first]
    np.testing.assert_allclose(with_padding, alone, rtol=1e-4, atol=1e-5)
    assert alone.shape == (rows,)  # one value per input channel of the multiply
    assert (alone > 0).all()


def test_smoothing_leaves_fp32_answers_unchanged(exported):
    folder, _, batches = exported
    model = onnx.load(str(folder / "model.onnx"))
    before = run(model, batches[0])
    nodes = [n for n in weighted_matmuls(model.graph) if not is_down_projection(n, model.graph)]
    maxima = activation_maxima(model, batches[:2], sorted({n.input[0] for n in nodes}))
    weights_before = {i.name: onnx.numpy_helper.to_array(i).copy() for i in model.graph.initializer}
    smoothed = smooth(model.graph, nodes, maxima)
    assert smoothed == len(maxima)  # query/key/value share one scaled input: fewer activations than nodes
    assert smoothed < len(nodes)
    onnx.checker.check_model(model)
    changed = [
        i.name
        for i in model.graph.initializer
        if i.name in weights_before and not np.array_equal(onnx.numpy_helper.to_array(i), weights_before[i.name])
    ]
    nonzero = {n.input[1] for n in nodes if weights_before[n.input[1]].any()}  # the pooling layer's query is 0
    assert set(changed) == nonzero  # every smoothed weight, nothing else
    np.testing.assert_allclose(run(model, batches[0]), before, rtol=1e-4, atol=1e-5)


def test_outlier_split_leaves_fp32_answers_unchanged(exported):
    folder, _, batches = exported
    model = onnx.load(str(folder / "model.onnx"))
    before = run(model, batches[0])
    down = [n for n in weighted_matmuls(model.graph) if is_down_projection(n, model.graph)]
    assert down  # BERT's feed-forward output: intermediate size > hidden size
    names = [split_outlier_channels(model.graph, node, np.array([0, 3])) for node in down]
    onnx.checker.check_model(model)
    assert all(any(n.name == name for n in model.graph.node) for name in names)
    np.testing.assert_allclose(run(model, batches[0]), before, rtol=1e-4, atol=1e-5)


def test_diagonal_weights_become_exact_multiplies(exported):
    folder, _, batches = exported
    model = onnx.load(str(folder / "model.onnx"))
    before = run(model, batches[0])
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    diagonal = [n for n in weighted_matmuls(model.graph) if is_diagonal(weights[n.input[1]])]
    assert len(diagonal) == 2 and all("layer.2" in n.name for n in diagonal)  # the tiny model's pooling layer
    assert not is_diagonal(np.zeros((4, 4))) and not is_diagonal(np.ones((4, 4))) and is_diagonal(np.eye(4) * 3)
    for node in diagonal:
        diagonal_to_mul(model.graph, node)
    onnx.checker.check_model(model)
    assert len(weighted_matmuls(model.graph)) == len(weighted_matmuls(onnx.load(str(folder / "model.onnx")).graph)) - 2
    np.testing.assert_allclose(run(model, batches[0]), before, rtol=1e-4, atol=1e-5)


def test_int8_export_records_the_scheme(exported):
    folder, _, _ = exported
    export_onnx(folder, quantize="int8", calibration=["Oil prices fall", "Acme Corp announces new CEO"] * 5)
    entry = read_exports(folder)["onnx-int8"]
    assert entry["calibration"] == "10 texts from texts given by the caller" and entry["calibration_texts"] == 10
    assert entry["smoothquant_alpha"] == 0.5 and entry["smoothed_activations"] > 0
    model = onnx.load(str(folder / "model.int8.onnx"))
    ops = {n.op_type for n in model.graph.node}
    assert {"MatMulIntegerToFloat", "QuantizeLinear"} <= ops and "DynamicQuantizeLinear" not in ops  # int8, per token
    outlier_paths = [n.name for n in model.graph.node if n.name.endswith("/outliers/MatMul")]
    assert len(outlier_paths) == len(entry["fp32_outlier_channels"])  # each split kept its fp32 path
    # the mean-pooling layer's value and output projections are diagonal: multiplied exactly, not in int8
    assert entry["diagonal_matmuls_as_mul"] == 2
    assert entry["int8_matmuls"] + 2 == len(weighted_matmuls(onnx.load(str(folder / "model.onnx")).graph))


def test_bad_calibration_file_fails_before_any_file_is_written(tiny_model_dir, tmp_path):
    folder = tmp_path / "tiny"
    shutil.copytree(tiny_model_dir, folder)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match="no texts"):
        export_onnx(folder, quantize="int8", calibration=empty)
    assert not (folder / "model.onnx").exists() and not (folder / "model.int8.onnx").exists()
    with pytest.raises(ModelError, match="unknown quantization"):
        export_onnx(folder, quantize="int4")


def test_zero_points_follow_how_each_activation_splits_around_zero():
    from onnx import TensorProto, helper, numpy_helper

    # two activations: one centred on zero, one almost all positive (as GELU's outputs are)
    graph = helper.make_graph(
        [
            helper.make_node("Identity", ["x"], ["centred"]),
            helper.make_node("Relu", ["x"], ["relu"]),
            helper.make_node("Sub", ["relu", "small"], ["one_sided"]),
        ],
        "activations",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None, 64])],
        [helper.make_tensor_value_info("one_sided", TensorProto.FLOAT, [None, None, 64])],
        [numpy_helper.from_array(np.array(0.1, dtype=np.float32), "small")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = np.random.default_rng(0).normal(size=(4, 6, 64)).astype(np.float32)
    mask = np.ones((4, 6), dtype=np.int64)
    mask[0, 3:] = 0
    x[0, 3:] = -100.0  # padding: not a token, not counted
    zero_points = row_zero_points(model, [{"x": x, "attention_mask": mask}], ["centred", "one_sided"])
    assert 110 <= zero_points["centred"] <= 145
    assert 1 <= zero_points["one_sided"] <= 20


def one_multiply(tmp_path, weight: np.ndarray, bias: np.ndarray | None = None):
    """A graph of one multiply, Y = X @ weight (+ bias), through ONNX Runtime's dynamic int8 (as
    quantize_int8 has it before its activations are rescaled)."""
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime import quantization

    nodes = [helper.make_node("MatMul", ["x", "w"], ["product" if bias is not None else "y"], name="multiply")]
    constants = [numpy_helper.from_array(weight, "w")]
    if bias is not None:
        nodes.append(helper.make_node("Add", ["product", "b"], ["y"], name="bias"))
        constants.append(numpy_helper.from_array(bias, "b"))
    graph = helper.make_graph(
        nodes,
        "one multiply",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None, weight.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None, weight.shape[1]])],
        constants,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "fp32.onnx")
    quantization.quantize_dynamic(
        tmp_path / "fp32.onnx", tmp_path / "int8.onnx", weight_type=quantization.QuantType.QInt8, per_channel=True
    )
    model = onnx.load(tmp_path / "int8.onnx")
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model


def session_of(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_fixed_scales_hold_the_calibrated_range_and_clip_beyond_it(tmp_path):
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(8, 4)).astype(np.float32)
    model = one_multiply(tmp_path, weight)
    assert scale_activations_statically(model.graph, {"x": (-2.0, 6.0)}) == 1
    session = session_of(model)
    inside = rng.uniform(-2, 6, size=(1, 5, 8)).astype(np.float32)
    got = session.run(None, {"x": inside})[0]
    step, weight_step = 8.0 / 255, np.abs(weight).max(axis=0) / 127
    bound = step / 2 * np.abs(weight).sum(axis=0) + np.abs(inside).sum(axis=-1, keepdims=True) * weight_step / 2
    assert (np.abs(got - inside @ weight) <= bound * 1.01 + 1e-5).all()
    np.testing.assert_array_equal(session.run(None, {"x": inside[:, 2:3]})[0], got[:, 2:3])  # batch-mates: none
    beyond = np.full((1, 1, 8), 12.0, dtype=np.float32)  # twice the calibrated top: read as 6
    np.testing.assert_allclose(session.run(None, {"x": beyond})[0], (beyond / 2) @ weight, rtol=0.05, atol=0.05)


def test_a_bias_folded_into_the_fused_multiply_changes_no_answer(tmp_path):
    rng = np.random.default_rng(1)
    weight, bias = rng.normal(size=(8, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    model = one_multiply(tmp_path, weight, bias)
    scale_activations_statically(model.graph, {"x": (-3.0, 3.0)})
    x = rng.uniform(-3, 3, size=(2, 5, 8)).astype(np.float32)
    before = session_of(model).run(None, {"x": x})[0]
    assert fold_biases(model.graph) == 1
    assert [node.op_type for node in model.graph.node] == ["QuantizeLinear", "MatMulIntegerToFloat"]
    np.testing.assert_allclose(session_of(model).run(None, {"x": x})[0], before, rtol=1e-6, atol=1e-6)


def test_every_row_is_held_whole_by_its_own_scale_whatever_its_sign(tmp_path):
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(8, 4)).astype(np.float32)
    model = one_multiply(tmp_path, weight)
    assert scale_activations_per_row(model.graph, {"x": 30}) == 1  # calibrated: a small share below zero
    session = session_of(model)
    # rows all positive, all negative (the opposite of the calibrated split) and mixed: none is clipped
    x = np.stack([rng.uniform(0, 5, 8), -rng.uniform(0, 5, 8), 3 * rng.normal(size=8)]).astype(np.float32)[None]
    got = session.run(None, {"x": x})[0]
    row_step = np.maximum(x.max(axis=-1) / (255 - 30), -x.min(axis=-1) / 30)[..., None]
    weight_step = np.abs(weight).max(axis=0) / 127
    bound = row_step / 2 * np.abs(weight).sum(axis=0) + np.abs(x).sum(axis=-1, keepdims=True) * weight_step / 2
    assert (np.abs(got - x @ weight) <= bound * 1.01 + 1e-5).all()
    alone = session.run(None, {"x": x[:, 1:2]})[0]  # a row's answer is its own, with or without the others
    np.testing.assert_array_equal(alone, got[:, 1:2])
