"""Keras model -> model.json (docs/model-json.md), the input of cnnz's `convert`.

    python -m cnnz.export model.keras -o model.json [--cnnz] [--labels labels.txt]
    cnnz.export(keras_model, "model.json", labels=[...])

Keras 3 (any backend) is needed at export time: the model is loaded with
`keras.models.load_model` and run once with `predict`, and that output is
stored as the model.json's self-test, so `convert` refuses to write a .cnnz
that does not compute what Keras computes.
"""
from __future__ import annotations

import base64
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._keras_graph import INPUT, Call, ExportError, FlatModel, affine_of, flatten, import_keras

__all__ = ["export", "load_labels", "find_convert", "run_convert", "ExportError", "main"]

# Activation names that model.json knows (Keras 3 spells swish "silu" and hard_swish "hard_silu").
ACTIVATIONS = frozenset({"linear", "relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid",
                         "tanh", "swish", "silu", "hard_swish", "hard_silu", "gelu", "softmax"})


def _tensor(array, what: str) -> Dict[str, Any]:
    """A float32 tensor in model.json's base64 form."""
    values = np.ascontiguousarray(np.asarray(array, dtype=np.float64).astype("<f4"))
    if not np.all(np.isfinite(values)):
        raise ExportError(f"{what}: holds a value that is not finite as a float32")
    return {"shape": [int(d) for d in values.shape], "dtype": "float32",
            "base64": base64.b64encode(values.tobytes()).decode("ascii")}


class _Translator:
    """Turns flattened Keras calls into model.json layer entries."""

    def __init__(self, keras):
        self.keras = keras

    def numpy(self, variable) -> np.ndarray:
        return np.asarray(self.keras.ops.convert_to_numpy(variable), dtype=np.float64)

    def weights(self, call: Call, variables) -> List[Dict[str, Any]]:
        return [_tensor(self.numpy(v), f"{call.describe()}: weight {i}") for i, v in enumerate(variables)]

    def last_axis(self, call: Call, axis, shape) -> int:
        """Keras's axis, checked to be the last one of `shape` (which counts the batch axis); written as -1."""
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ExportError(f"{call.describe()}: works over axes {list(axis)}; only the last axis is supported")
            axis = axis[0]
        if int(axis) % len(shape) != len(shape) - 1:
            raise ExportError(f"{call.describe()}: works over axis {axis}; only the last axis (-1) is supported")
        return -1

    def activation(self, call: Call, config) -> str:
        name = config.get("activation") or "linear"
        if not isinstance(name, str) or name not in ACTIVATIONS:
            shown = name if isinstance(name, str) else (name.get("config", {}).get("name")
                                                        if isinstance(name, dict) else repr(name))
            raise ExportError(f"{call.describe()}: activation {shown!r} is not one cnnz has "
                              f"({', '.join(sorted(ACTIVATIONS))})")
        return name

    def translate(self, call: Call) -> List[Dict[str, Any]]:
        """The model.json entries of one call (two for SeparableConv2D), without names and inputs."""
        layer, kind = call.layer, call.class_name
        if not type(layer).__module__.startswith("keras"):
            raise ExportError(f"{call.describe()}: is a custom layer class ({type(layer).__module__}); "
                              "cnnz runs Keras's own layers only")
        config = layer.get_config()
        if config.get("data_format", "channels_last") != "channels_last":
            raise ExportError(f"{call.describe()}: data_format {config['data_format']!r}; "
                              "cnnz runs channels_last models only")

        def entry(class_name, fields=(), weights=(), **extra):
            body = {key: _plain(config[key]) for key in fields if key in config}
            body.update(extra)
            result = {"class_name": class_name, "config": body}
            if weights:
                result["weights"] = self.weights(call, weights)
            return result

        bias = [layer.bias] if config.get("use_bias", False) else []
        window = ("kernel_size", "strides", "padding", "dilation_rate")
        if kind == "Conv2D":
            return [entry(kind, ("filters", "groups", "use_bias") + window, [layer.kernel] + bias,
                          activation=self.activation(call, config))]
        if kind == "DepthwiseConv2D":
            return [entry(kind, ("depth_multiplier", "use_bias") + window, [layer.kernel] + bias,
                          activation=self.activation(call, config))]
        if kind == "SeparableConv2D":
            # Exactly Keras's computation: a depthwise convolution, then a 1x1 convolution.
            depthwise = entry("DepthwiseConv2D", ("depth_multiplier",) + window, [layer.depthwise_kernel],
                              use_bias=False, activation="linear")
            pointwise = entry("Conv2D", ("filters", "use_bias"), [layer.pointwise_kernel] + bias,
                              kernel_size=[1, 1], activation=self.activation(call, config))
            return [depthwise, pointwise]
        if kind == "Dense":
            return [entry(kind, ("units", "use_bias"), [layer.kernel] + bias,
                          activation=self.activation(call, config))]
        if kind in ("MaxPooling2D", "AveragePooling2D"):
            return [entry(kind, ("pool_size", "strides", "padding"))]
        if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            return [entry(kind, ("keepdims",))]
        if kind == "Flatten":
            return [entry(kind)]
        if kind == "Activation":
            return [entry(kind, activation=self.activation(call, config))]
        if kind == "ReLU":
            return [entry(kind, ("max_value", "negative_slope", "threshold"))]
        if kind == "LeakyReLU":
            return [entry(kind, ("negative_slope",))]
        if kind == "Softmax":
            return [entry(kind, axis=self.last_axis(call, config.get("axis", -1), call.input_shapes[0]))]
        if kind == "BatchNormalization":
            axis = self.last_axis(call, config.get("axis", -1), call.input_shapes[0])
            variables = ([layer.gamma] if layer.scale else []) + ([layer.beta] if layer.center else [])
            variables += [layer.moving_mean, layer.moving_variance]
            return [entry(kind, ("epsilon", "center", "scale"), variables, axis=axis)]
        if kind in ("Rescaling", "Normalization"):
            # Away from the input, a per-channel scale and shift: a BatchNormalization that computes x * a + b.
            a, b = affine_of(call, self.keras)
            gamma_beta_mean_variance = (a, b, np.zeros_like(a), np.ones_like(a))
            return [{"class_name": "BatchNormalization",
                     "config": {"axis": -1, "epsilon": 0, "center": True, "scale": True},
                     "weights": [_tensor(t, call.describe()) for t in gamma_beta_mean_variance]}]
        if kind == "ZeroPadding2D":
            return [entry(kind, ("padding",))]
        if kind == "Add":
            return [entry(kind)]
        if kind == "Concatenate":
            return [entry(kind, axis=self.last_axis(call, config.get("axis", -1), call.input_shapes[0]))]
        raise ExportError(f"{call.describe()}: cnnz has no such layer "
                          "(docs/model-json.md lists the layers it runs)")


def _plain(value):
    """Keras config values (tuples, NumPy scalars) as JSON values."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _spec_shape(shape: Tuple[int, ...]) -> List[int]:
    """Keras's input shape (no batch axis) as model.json's [H, W, C]; a flat [N] input becomes [1, 1, N]."""
    if len(shape) == 3:
        return [int(d) for d in shape]
    if len(shape) == 1:
        return [1, 1, int(shape[0])]
    raise ExportError(f"the model's input has shape {tuple(shape)}; cnnz takes [height, width, channels] "
                      "images (or flat vectors)")


def load_labels(path: Union[str, os.PathLike]) -> List[str]:
    """Class names from a text file, one per line (UTF-8; trailing blank lines are ignored)."""
    try:
        text = pathlib.Path(path).read_bytes().decode("utf-8")
    except OSError as error:
        raise ExportError(f"cannot read labels file {os.fspath(path)}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ExportError(f"labels file {os.fspath(path)} is not UTF-8 text") from None
    lines = [line.rstrip("\r") for line in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise ExportError(f"labels file {os.fspath(path)}: line {number} is empty")
    if not lines:
        raise ExportError(f"labels file {os.fspath(path)} holds no labels")
    return lines


def _load_model(source, keras):
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ExportError(f"{path}: no such file")
        if not path.endswith((".keras", ".h5", ".hdf5")):
            raise ExportError(f"{path}: not a .keras or .h5 file")
        try:
            return keras.models.load_model(path, compile=False)
        except Exception as error:  # Keras raises anything from ValueError to OSError here
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ExportError(f"{path}: Keras cannot load it: {message}") from None
    if isinstance(source, keras.Model):
        return source
    raise ExportError(f"export() takes a Keras model or a .keras/.h5 path, not {type(source).__name__}")


def _self_test(model, flat: FlatModel, keras, spec_shape: List[int], selftest_input) -> Dict[str, Any]:
    """One input and Keras's own predict output for it; the input is stored prepared (after preprocessing)."""
    shape = (1,) + tuple(flat.input_shape)
    if selftest_input is not None:
        raw = np.asarray(selftest_input, dtype=np.float32)
        if raw.size != int(np.prod(shape)):
            raise ExportError(f"selftest_input has {raw.size} values, the model input {shape[1:]} needs "
                              f"{int(np.prod(shape))}")
        raw = raw.reshape(shape)
    elif flat.preprocessing is not None:
        raw = np.random.default_rng(0x636E6E7A).integers(0, 256, size=shape).astype(np.float32)  # pixels
    else:
        raw = np.random.default_rng(0x636E6E7A).uniform(-1, 1, size=shape).astype(np.float32)
    try:
        expected = model.predict(raw, verbose=0)
    except Exception as error:  # the model's own failure, reported as one line
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExportError(f"Keras's predict fails on the self-test input: {message}") from None
    if isinstance(expected, (list, tuple, dict)):
        raise ExportError("the model has several outputs; cnnz models have one")
    expected = np.asarray(expected, dtype=np.float64).reshape(-1)
    prepared = raw
    for layer in (flat.preprocessing.layers if flat.preprocessing else []):
        prepared = keras.ops.convert_to_numpy(layer(prepared))
    magnitude = float(np.max(np.abs(expected))) if expected.size else 0.0
    return {"input": _tensor(np.asarray(prepared).reshape(spec_shape), "selftest input"),
            "output": _tensor(expected, "selftest output (Keras's predict)"),
            "tolerance": 1e-4 * max(1.0, magnitude)}


def to_model_json(model, labels: Optional[Sequence[str]] = None, name: Optional[str] = None,
                  input_shape: Optional[Sequence[int]] = None, selftest_input=None) -> Dict[str, Any]:
    """The model.json document (a dict) for a Keras model object or a .keras/.h5 path."""
    keras = import_keras()
    model = _load_model(model, keras)
    flat = flatten(model, keras, tuple(input_shape) if input_shape is not None else None)
    translator = _Translator(keras)
    layers: List[Dict[str, Any]] = []
    names = {}  # a call's name -> the name of its last JSON entry
    previous = INPUT
    for call in flat.calls:
        entries = translator.translate(call)
        inputs = [names.get(value, value) for value in call.inputs]
        for index, entry in enumerate(entries):
            entry_name = call.name if index == len(entries) - 1 else f"{call.name}/{entry['class_name']}"
            item = {"class_name": entry.pop("class_name"), "name": entry_name}
            if inputs != [previous]:
                item["inputs"] = inputs
            item.update(entry)
            layers.append(item)
            inputs, previous = [entry_name], entry_name
        names[call.name] = previous
    spec_shape = _spec_shape(flat.input_shape)
    output_size = int(np.prod([d for d in flat.calls[-1].output_shape[1:]]))
    document: Dict[str, Any] = {"format": "cnnz-json", "version": 1, "name": name or model.name,
                                "input": {"shape": spec_shape}}
    if flat.preprocessing is not None:
        p = flat.preprocessing
        document["preprocess"] = {"scale": p.scale, "mean": _collapse(p.mean), "std": _collapse(p.std)}
    if labels is not None:
        labels = list(labels)
        if not all(isinstance(label, str) for label in labels):
            raise ExportError("labels must be strings")
        if len(labels) != output_size:
            raise ExportError(f"{len(labels)} labels given, the model has {output_size} outputs")
        document["labels"] = labels
    document["layers"] = layers
    document["selftest"] = _self_test(model, flat, keras, spec_shape, selftest_input)
    return document


def _collapse(values: np.ndarray) -> List[float]:
    return [float(values[0])] if np.all(values == values[0]) else [float(v) for v in values]


def export(model, path: Union[str, os.PathLike], labels: Optional[Sequence[str]] = None,
           name: Optional[str] = None, input_shape: Optional[Sequence[int]] = None,
           selftest_input=None) -> Dict[str, Any]:
    """Writes the model.json of a Keras model (object or .keras/.h5 path) to `path`; returns the document.

    `labels`: one class name per output. `name`: the model's name (default:
    Keras's). `input_shape`: (H, W, C) for a model whose input size is not
    fixed. `selftest_input`: the input (before preprocessing) of the stored
    self-test; by default random pixels 0...255 when the model starts with
    Rescaling or Normalization, random values in [-1, 1) otherwise.
    The file is written whole or not at all. Raises ExportError.
    """
    document = to_model_json(model, labels=labels, name=name, input_shape=input_shape,
                             selftest_input=selftest_input)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=".cnnz-export-", suffix=".json", dir=directory)
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=1, allow_nan=False)
            file.write("\n")
        os.replace(temporary, path)
    except BaseException as error:  # no half-written file is left, whatever happened
        if os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise ExportError(f"cannot write {path}: {error.strerror or error}") from None
        raise
    return document


def find_convert() -> List[str]:
    """The command that runs cnnz's `convert`.

    In order: $CNNZ_CONVERT (a path to the executable); `swift run convert` in
    the cnnz checkout this package is imported from; `convert` on PATH if it is
    cnnz's (ImageMagick also installs a `convert`).
    """
    explicit = os.environ.get("CNNZ_CONVERT")
    if explicit:
        return [explicit]
    repository = pathlib.Path(__file__).resolve().parents[3]
    if (repository / "Package.swift").is_file() and (repository / "Sources" / "convert").is_dir() \
            and shutil.which("swift"):
        return ["swift", "run", "--quiet", "--package-path", str(repository), "convert"]
    found = shutil.which("convert")
    if found:
        try:
            probe = subprocess.run([found, "--help"], capture_output=True, text=True, timeout=30)
            if "model.json" in probe.stdout + probe.stderr:
                return [found]
        except (OSError, subprocess.SubprocessError):
            pass
    raise ExportError("cannot find cnnz's convert: set CNNZ_CONVERT=/path/to/convert "
                      "(built by `swift build -c release --product convert` in the cnnz repository)")


def run_convert(json_path: Union[str, os.PathLike], output: Optional[Union[str, os.PathLike]] = None) -> int:
    """Runs `convert json_path [-o output]`, its messages passed through; returns its exit status."""
    command = find_convert() + [os.fspath(json_path)]
    if output is not None:
        command += ["-o", os.fspath(output)]
    return subprocess.run(command).returncode


def main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m cnnz.export",
        description="Write the model.json of a Keras model (.keras or .h5), for cnnz's convert. "
                    "Needs Keras 3 and a backend (pip install keras jax).")
    parser.add_argument("model", help="a .keras or .h5 file saved by Keras")
    parser.add_argument("-o", "--output", help="the model.json to write (default: MODEL.json beside MODEL)")
    parser.add_argument("--cnnz", action="store_true",
                        help="also run cnnz's convert, writing the .cnnz beside the model.json")
    parser.add_argument("--labels", metavar="FILE", help="class names, one per line, one per output")
    parser.add_argument("--name", help="the model's name (default: Keras's)")
    parser.add_argument("--input-shape", metavar="H,W,C", help="for a model whose input size is not fixed")
    arguments = parser.parse_args(argv)
    output = arguments.output or os.path.splitext(arguments.model)[0] + ".json"
    try:
        shape = None
        if arguments.input_shape:
            try:
                shape = [int(part) for part in arguments.input_shape.split(",")]
            except ValueError:
                raise ExportError(f"--input-shape {arguments.input_shape!r} is not H,W,C") from None
        labels = load_labels(arguments.labels) if arguments.labels else None
        if arguments.cnnz:
            find_convert()  # fail before the slow part
        document = export(arguments.model, output, labels=labels, name=arguments.name, input_shape=shape)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{output}: {len(document['layers'])} layers, input {document['input']['shape']}, "
          f"self-test from Keras's predict")
    if arguments.cnnz:
        return run_convert(output)
    return 0
