"""Flattens a Keras model into a list of layer calls for the exporter.

Sequential and functional models (nested ones too) become one flat list of
`Call`s in an order where every call comes after the calls it reads and the
model's output is computed by the last one. Values are named by strings: the
model input is "input", every other value is the name of the call that makes
it. Inference no-ops are removed and Rescaling / Normalization layers that
read the model input are folded into a `Preprocessing`.

Keras is imported lazily (`import_keras`), so `import cnnz` never needs it.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

INPUT = "input"

# Layers that return their input unchanged at inference (predict, training=False).
NO_OP_CLASSES = frozenset({
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity", "RandomFlip",
    "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "RandomBrightness",
})
PREPROCESSING_CLASSES = frozenset({"Rescaling", "Normalization"})


class ExportError(Exception):
    """A model (or an option) the exporter cannot turn into model.json; the message is one line."""


def import_keras():
    """Imports Keras 3, choosing an installed backend when none is configured.

    Keras defaults to TensorFlow; when KERAS_BACKEND is unset and TensorFlow is
    not installed, the first of JAX and PyTorch that is installed is used.
    """
    if "keras" not in sys.modules and not os.environ.get("KERAS_BACKEND"):
        if importlib.util.find_spec("tensorflow") is None:
            for backend in ("jax", "torch"):
                if importlib.util.find_spec(backend) is not None:
                    os.environ["KERAS_BACKEND"] = backend
                    break
    try:
        import keras
    except ImportError as error:
        raise ExportError(
            f"Keras 3 is needed to export ({error}): `pip install keras jax`, or "
            "`pip install \"./bindings/python[keras]\"` in the cnnz repository") from None
    if not hasattr(keras, "version") or int(keras.version().split(".")[0]) < 3:
        raise ExportError(f"Keras 3 is needed to export; found Keras {getattr(keras, '__version__', '?')}")
    return keras


@dataclass
class Call:
    """One call of a Keras layer: what it reads and the shapes Keras gives it."""
    name: str
    layer: Any
    inputs: List[str]
    input_shapes: List[Tuple] = field(default_factory=list)
    output_shape: Tuple = ()

    @property
    def class_name(self) -> str:
        return type(self.layer).__name__

    def describe(self) -> str:
        return f"layer '{self.name}' ({self.class_name})"


@dataclass
class Preprocessing:
    """x = (pixel * scale - mean[c]) / std[c], the form model.json stores; starts as the identity."""
    channels: int
    scale: float = 1.0
    mean: np.ndarray = field(init=False)
    std: np.ndarray = field(init=False)
    layers: List[Any] = field(default_factory=list)  # the Keras layers folded in, in order

    def __post_init__(self):
        self.mean = np.zeros(self.channels)
        self.std = np.ones(self.channels)

    def then_affine(self, a: np.ndarray, b: np.ndarray, what: str):
        """Composes y = x * a + b (per channel) after the current preprocessing."""
        if np.all(self.std == 1) and np.all(self.mean == 0) and np.all(a == a[0]):
            # The common case (Rescaling first) keeps scale and offset as Keras wrote them.
            self.scale *= float(a[0])
            self.mean = -b.astype(np.float64)
            return
        if np.any(a == 0):
            raise ExportError(f"{what}: a scale of 0 cannot be expressed as model.json preprocessing")
        # ((p*s - m) / d) * a + b == (p*s - m + b*d/a) / (d/a)
        self.mean = self.mean - b * self.std / a
        self.std = self.std / a


def _channel_vector(value, channels: int, what: str) -> np.ndarray:
    """A Keras scalar or per-channel (last-axis) value as `channels` float64s."""
    array = np.asarray(value, dtype=np.float64)
    if array.size == 1:
        return np.full(channels, float(array.reshape(-1)[0]))
    if array.shape[-1] == channels and array.size == channels:
        return array.reshape(-1)
    raise ExportError(f"{what}: holds {array.shape} values, not one or one per channel ({channels})")


def affine_of(call: Call, keras) -> Tuple[np.ndarray, np.ndarray]:
    """The per-channel y = x * a + b that a Rescaling or Normalization layer computes."""
    layer = call.layer
    channels = int(call.output_shape[-1])
    what = call.describe()
    if call.class_name == "Rescaling":
        return _channel_vector(layer.scale, channels, what), _channel_vector(layer.offset, channels, what)
    rank = len(call.output_shape)
    # axis=None (stored as ()) is one mean and variance for everything; else only the last axis.
    if layer.axis and tuple(a % rank for a in layer.axis) != (rank - 1,):
        raise ExportError(f"{what}: normalizes over axis {layer.axis}; only the last axis (-1) is supported")
    mean = _channel_vector(keras.ops.convert_to_numpy(layer.mean), channels, what)
    variance = _channel_vector(keras.ops.convert_to_numpy(layer.variance), channels, what)
    # Keras divides by max(sqrt(variance), epsilon).
    deviation = np.maximum(np.sqrt(variance), keras.config.epsilon())
    if layer.invert:
        return deviation, mean
    return 1 / deviation, -mean / deviation


class _Flattener:
    def __init__(self, keras):
        self.keras = keras
        self.calls: List[Call] = []
        self.used_names = {INPUT}

    def unique(self, name: str) -> str:
        candidate, k = name, 1
        while candidate in self.used_names:
            candidate = f"{name}@{k}"
            k += 1
        self.used_names.add(candidate)
        return candidate

    def emit(self, layer, inputs: List[str], prefix: str, top: bool = False) -> str:
        """Appends the calls of one layer (a whole model for a nested one); returns its output's name."""
        keras = self.keras
        if isinstance(layer, keras.Model):
            # Layers of a nested model are named "outer/inner" to stay unique.
            inner = "" if top else prefix + layer.name + "/"
            if not isinstance(layer, keras.Sequential):
                return self.functional(layer, inputs, inner)
            value = inputs[0]
            for sublayer in layer.layers:
                value = self.emit(sublayer, [value], inner)
            return value
        if type(layer).__name__ == "InputLayer":
            return inputs[0]
        call = Call(self.unique(prefix + layer.name), layer, inputs)
        self.calls.append(call)
        return call.name

    def functional(self, model, inputs: List[str], prefix: str) -> str:
        config = model.get_config()
        input_keys = _history_list(config.get("input_layers"))
        output_keys = _history_list(config.get("output_layers"))
        if len(input_keys) != len(inputs):
            raise ExportError(f"model '{model.name}' has {len(input_keys)} inputs; cnnz models have one")
        if len(output_keys) != 1:
            raise ExportError(f"model '{model.name}' has {len(output_keys)} outputs; cnnz models have one")
        nodes = {layer["name"]: layer.get("inbound_nodes", []) for layer in config["layers"]}
        values: Dict[Tuple, str] = {key: value for key, value in zip(input_keys, inputs)}
        # Post-order walk from the output without recursion (deep models would exceed Python's limit).
        stack = [(output_keys[0], False)]
        while stack:
            key, ready = stack.pop()
            if key in values:
                continue
            name, node_index, tensor_index = key
            if name not in nodes or node_index >= len(nodes[name]):
                raise ExportError(f"model '{model.name}': layer '{name}' call {node_index} is not in its config")
            arguments = _tensor_keys(nodes[name][node_index])
            if not ready:
                stack.append((key, True))
                stack.extend((argument, False) for argument in reversed(arguments) if argument not in values)
                continue
            layer = model.get_layer(name)
            if tensor_index != 0:
                raise ExportError(f"layer '{name}' ({type(layer).__name__}): has several outputs; "
                                  "cnnz layers have one")
            values[key] = self.emit(layer, [values[argument] for argument in arguments], prefix)
        return values[output_keys[0]]


def _history_list(value) -> List[Tuple]:
    """input_layers / output_layers: [name, node, tensor] or a list of them."""
    if not value:
        return []
    if isinstance(value[0], str):
        value = [value]
    return [tuple(item) for item in value]


def _tensor_keys(node) -> List[Tuple]:
    """The (layer, node, tensor) keys of the Keras tensors a serialized call reads, in order."""
    keys: List[Tuple] = []

    def visit(item):
        if isinstance(item, dict):
            if item.get("class_name") == "__keras_tensor__":
                keys.append(tuple(item["config"]["keras_history"]))
            else:
                for value in item.values():
                    visit(value)
        elif isinstance(item, (list, tuple)):
            for value in item:
                visit(value)

    if isinstance(node, dict):
        visit(node.get("args", []))
        visit(node.get("kwargs", {}))
    else:  # Keras 2 form: [[layer, node, tensor, kwargs], ...]
        keys.extend((entry[0], entry[1], entry[2]) for entry in node)
    return keys


@dataclass
class FlatModel:
    """A Keras model as cnnz sees it."""
    input_shape: Tuple[int, ...]  # Keras's, without the batch axis
    calls: List[Call]
    output: str
    preprocessing: Optional[Preprocessing]


def flatten(model, keras, input_shape: Optional[Tuple[int, ...]] = None) -> FlatModel:
    """Flattens `model` into calls, drops no-ops and folds input preprocessing."""
    try:
        inputs = model.inputs or []
    except (AttributeError, ValueError):
        raise ExportError(f"model '{model.name}' has no input shape yet: build it, "
                          "or start it with keras.Input") from None
    if len(inputs) != 1:
        raise ExportError(f"model '{model.name}' has {len(inputs)} inputs; cnnz models have one")
    shape = tuple(model.inputs[0].shape[1:])
    if input_shape is not None:
        given = tuple(int(d) for d in input_shape)
        if len(given) != len(shape) or any(k is not None and k != g for k, g in zip(shape, given)):
            raise ExportError(f"input shape {given} does not fit the model's {shape}")
        shape = given
    if any(d is None for d in shape):
        raise ExportError(f"the model's input shape {shape} has an unknown size; "
                          "give one (--input-shape H,W,C, or input_shape=)")
    flattener = _Flattener(keras)
    output = flattener.emit(model, [INPUT], "", top=True)
    calls = flattener.calls
    _infer_shapes(calls, shape)
    aliases: Dict[str, str] = {}

    def resolve(value: str) -> str:
        while value in aliases:
            value = aliases[value]
        return value

    kept = []
    for call in calls:
        call.inputs = [resolve(v) for v in call.inputs]
        if call.class_name in NO_OP_CLASSES:
            aliases[call.name] = call.inputs[0]
        else:
            kept.append(call)
    preprocessing = None
    while True:
        readers = [call for call in kept if INPUT in call.inputs]
        if len(readers) != 1 or readers[0].class_name not in PREPROCESSING_CLASSES:
            break
        call = readers[0]
        if preprocessing is None:
            preprocessing = Preprocessing(channels=int(shape[-1]))
        a, b = affine_of(call, keras)
        preprocessing.then_affine(a, b, call.describe())
        preprocessing.layers.append(call.layer)
        aliases[call.name] = INPUT
        kept.remove(call)
        for other in kept:
            other.inputs = [resolve(v) for v in other.inputs]
    output = resolve(output)
    # Only the calls the output depends on, in their (topological) order.
    needed = {output}
    for call in reversed(kept):
        if call.name in needed:
            needed.update(call.inputs)
    kept = [call for call in kept if call.name in needed]
    if not kept:
        raise ExportError("the model computes nothing but preprocessing; there is no layer for cnnz to run")
    return FlatModel(shape, kept, output, preprocessing)


def _infer_shapes(calls: List[Call], input_shape: Tuple[int, ...]):
    shapes = {INPUT: (None,) + tuple(input_shape)}
    for call in calls:
        call.input_shapes = [shapes[value] for value in call.inputs]
        argument = call.input_shapes[0] if len(call.input_shapes) == 1 else call.input_shapes
        try:
            shape = call.layer.compute_output_shape(argument)
        except Exception as error:  # Keras raises many kinds; the message is what matters
            raise ExportError(f"{call.describe()}: Keras cannot compute its output shape: "
                              f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
        if isinstance(shape, list) and shape and isinstance(shape[0], (tuple, list)):
            raise ExportError(f"{call.describe()}: has several outputs; cnnz layers have one")
        call.output_shape = tuple(shape)
        shapes[call.name] = call.output_shape
