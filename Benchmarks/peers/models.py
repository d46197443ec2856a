"""The benchmark's four models, and the same weights as cnnz model.json, a Keras model and an ONNX graph.

A model is a list of operations (dicts). Weights are drawn once per model from a seeded generator
(He-uniform kernels, small uniform biases), so that every engine runs the same numbers:

- cnnz: a model.json (docs/model-json.md), NHWC, converted by `convert`;
- TensorFlow Lite: a Keras model with those weights, converted by tf.lite.TFLiteConverter;
- ONNX Runtime: an NCHW graph written with onnx.helper. Its input is the NCHW transpose of the
  same images (made once, outside the timing), and the first Dense after a Flatten has its rows
  permuted so that NCHW flattening (c, h, w) meets the weights Keras flattening (h, w, c) was given.
"""
from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

Op = dict[str, Any]


def conv(filters: int, k: int, stride: int = 1, padding: str = "same", act: str = "relu", name: str | None = None,
         inputs: list[str] | None = None) -> Op:
    return {"op": "conv", "filters": filters, "k": k, "stride": stride, "padding": padding, "act": act,
            "name": name, "inputs": inputs}


def depthwise(k: int, stride: int = 1, act: str = "relu6") -> Op:
    return {"op": "dw", "k": k, "stride": stride, "padding": "same", "act": act, "name": None, "inputs": None}


def maxpool() -> Op:
    return {"op": "maxpool", "name": None, "inputs": None}


def dense(units: int, act: str) -> Op:
    return {"op": "dense", "units": units, "act": act, "name": None, "inputs": None}


def fashion_cnn() -> tuple[tuple[int, int, int], list[Op]]:
    return (28, 28, 1), [conv(32, 3), maxpool(), conv(64, 3), maxpool(), {"op": "flatten"}, dense(128, "relu"),
                         dense(10, "softmax")]


def seed002() -> tuple[tuple[int, int, int], list[Op]]:
    ops: list[Op] = []
    for filters in (12, 25, 50, 100):
        ops += [conv(filters, 2, padding="valid"), conv(filters, 2, padding="valid"), maxpool()]
    return (64, 64, 3), ops + [{"op": "flatten"}, dense(750, "relu"), dense(250, "relu"), dense(10, "softmax")]


def cifar_vgg() -> tuple[tuple[int, int, int], list[Op]]:
    ops: list[Op] = []
    for filters in (32, 64, 128):
        ops += [conv(filters, 3), conv(filters, 3), maxpool()]
    return (32, 32, 3), ops + [{"op": "flatten"}, dense(256, "relu"), dense(10, "softmax")]


def mobile_res() -> tuple[tuple[int, int, int], list[Op]]:
    ops: list[Op] = [conv(16, 3, stride=2, act="relu6", name="b0")]
    previous = "b0"
    for i, (channels, stride) in enumerate([(32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (256, 2)], 1):
        ops.append(depthwise(3, stride))
        if i in (3, 5):  # linear pointwise, then the residual Add and relu6
            ops.append(conv(channels, 1, act="linear", name=f"p{i}"))
            ops.append({"op": "add", "inputs": [previous, f"p{i}"], "act": "relu6", "name": f"b{i}"})
        else:
            ops.append(conv(channels, 1, act="relu6", name=f"b{i}"))
        previous = f"b{i}"
    return (96, 96, 3), ops + [{"op": "gap"}, dense(10, "softmax")]


MODELS = {"fashion_cnn": fashion_cnn, "seed002": seed002, "cifar_vgg": cifar_vgg, "mobile_res": mobile_res}


def _same_pads(size: int, k: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding: ceil(size / stride) outputs, the smaller half before."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


class Model:
    """One benchmark model: its operations with shapes, names and weights filled in."""

    def __init__(self, name: str, seed: int):
        self.name = name
        self.input_shape, ops = MODELS[name]()
        rng = np.random.default_rng(seed)
        self.ops: list[Op] = []
        shapes: dict[str, tuple[int, ...]] = {"input": self.input_shape}
        previous = "input"
        self.macs = 0
        for i, template in enumerate(ops):
            op = dict(template)
            op["name"] = op.get("name") or f"{op['op']}{i}"
            op["inputs"] = op.get("inputs") or [previous]
            h, w, c = (shapes[op["inputs"][0]] + (0, 0))[:3]
            if op["op"] in ("conv", "dw"):
                k, s = op["k"], op["stride"]
                if op["padding"] == "same":
                    oh, ow = math.ceil(h / s), math.ceil(w / s)
                else:
                    oh, ow = (h - k) // s + 1, (w - k) // s + 1
                fan_in = k * k * (c if op["op"] == "conv" else 1)
                limit = math.sqrt(6 / fan_in)
                oc = op["filters"] if op["op"] == "conv" else c
                shape = (k, k, c, oc) if op["op"] == "conv" else (k, k, c, 1)
                op["kernel"] = rng.uniform(-limit, limit, shape).astype(np.float32)
                op["bias"] = rng.uniform(-0.1, 0.1, oc).astype(np.float32)
                op["in_hw"] = (h, w)
                shapes[op["name"]] = (oh, ow, oc)
                self.macs += oh * ow * oc * k * k * (c if op["op"] == "conv" else 1)
            elif op["op"] == "maxpool":
                shapes[op["name"]] = (h // 2, w // 2, c)
            elif op["op"] == "add":
                shapes[op["name"]] = shapes[op["inputs"][0]]
            elif op["op"] == "gap":
                shapes[op["name"]] = (c,)
            elif op["op"] == "flatten":
                op["from"] = (h, w, c)
                shapes[op["name"]] = (h * w * c,)
            elif op["op"] == "dense":
                n_in = shapes[op["inputs"][0]][0]
                limit = math.sqrt(6 / n_in)
                op["kernel"] = rng.uniform(-limit, limit, (n_in, op["units"])).astype(np.float32)
                op["bias"] = rng.uniform(-0.1, 0.1, op["units"]).astype(np.float32)
                shapes[op["name"]] = (op["units"],)
                self.macs += n_in * op["units"]
            self.ops.append(op)
            previous = op["name"]
        self.output_size = shapes[previous][0]

    # cnnz ------------------------------------------------------------------------------------

    def model_json(self) -> dict[str, Any]:
        def tensor(a: np.ndarray) -> dict[str, Any]:
            a = np.ascontiguousarray(a, dtype="<f4")
            return {"shape": list(a.shape), "dtype": "float32", "base64": base64.b64encode(a.tobytes()).decode()}

        layers: list[dict[str, Any]] = []
        for op in self.ops:
            entry: dict[str, Any] = {"name": op["name"], "inputs": op["inputs"]}
            if op["op"] == "conv":
                entry.update(class_name="Conv2D", config={"filters": op["filters"], "kernel_size": op["k"],
                                                          "strides": op["stride"], "padding": op["padding"],
                                                          "activation": op["act"]},
                             weights=[tensor(op["kernel"]), tensor(op["bias"])])
            elif op["op"] == "dw":
                entry.update(class_name="DepthwiseConv2D", config={"kernel_size": op["k"], "strides": op["stride"],
                                                                   "padding": "same", "activation": op["act"]},
                             weights=[tensor(op["kernel"]), tensor(op["bias"])])
            elif op["op"] == "maxpool":
                entry.update(class_name="MaxPooling2D", config={"pool_size": 2})
            elif op["op"] == "add":
                # Add reads no activation: the relu6 is a layer of its own (convert folds it).
                layers.append({"class_name": "Add", "name": op["name"] + "_sum", "inputs": op["inputs"]})
                entry.update(class_name="Activation", config={"activation": op["act"]}, inputs=[op["name"] + "_sum"])
            elif op["op"] == "gap":
                entry.update(class_name="GlobalAveragePooling2D", config={})
            elif op["op"] == "flatten":
                entry.update(class_name="Flatten", config={})
            elif op["op"] == "dense":
                entry.update(class_name="Dense", config={"units": op["units"], "activation": op["act"]},
                             weights=[tensor(op["kernel"]), tensor(op["bias"])])
            layers.append(entry)
        return {"format": "cnnz-json", "version": 1, "name": self.name,
                "input": {"shape": list(self.input_shape)}, "layers": layers}

    # Keras (for TensorFlow Lite) ----------------------------------------------------------------

    def keras(self):  # -> keras.Model
        import keras

        values = {"input": keras.Input(shape=self.input_shape, name="input")}
        for op in self.ops:
            x = [values[name] for name in op["inputs"]]
            if op["op"] == "conv":
                layer = keras.layers.Conv2D(op["filters"], op["k"], strides=op["stride"], padding=op["padding"],
                                            activation=op["act"], name=op["name"])
            elif op["op"] == "dw":
                layer = keras.layers.DepthwiseConv2D(op["k"], strides=op["stride"], padding="same",
                                                     activation=op["act"], name=op["name"])
            elif op["op"] == "maxpool":
                layer = keras.layers.MaxPooling2D(2, name=op["name"])
            elif op["op"] == "add":
                values[op["name"]] = keras.layers.Activation(op["act"], name=op["name"])(
                    keras.layers.Add(name=op["name"] + "_sum")(x))
                continue
            elif op["op"] == "gap":
                layer = keras.layers.GlobalAveragePooling2D(name=op["name"])
            elif op["op"] == "flatten":
                layer = keras.layers.Flatten(name=op["name"])
            else:
                layer = keras.layers.Dense(op["units"], activation=op["act"], name=op["name"])
            values[op["name"]] = layer(x[0] if len(x) == 1 else x)
            if "kernel" in op:
                layer.set_weights([op["kernel"], op["bias"]])
        return keras.Model(values["input"], values[self.ops[-1]["name"]])

    # ONNX --------------------------------------------------------------------------------------

    def onnx(self):  # -> onnx.ModelProto
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        nodes, initializers = [], []
        names = {"input": "input"}

        def constant(name: str, array: np.ndarray) -> str:
            initializers.append(numpy_helper.from_array(array, name))
            return name

        def activation(op: Op, value: str) -> str:
            out = op["name"]
            if op["act"] == "relu":
                nodes.append(helper.make_node("Relu", [value], [out]))
            elif op["act"] == "relu6":
                nodes.append(helper.make_node("Clip", [value, constant(out + "_lo", np.array(0, np.float32)),
                                                       constant(out + "_hi", np.array(6, np.float32))], [out]))
            elif op["act"] == "softmax":
                nodes.append(helper.make_node("Softmax", [value], [out], axis=-1))
            else:
                return value
            return out

        for op in self.ops:
            x = [names[name] for name in op["inputs"]]
            raw = op["name"] + "_raw"
            if op["op"] in ("conv", "dw"):
                k, s = op["k"], op["stride"]
                if op["padding"] == "same":
                    (top, bottom), (left, right) = (_same_pads(op["in_hw"][0], k, s), _same_pads(op["in_hw"][1], k, s))
                else:
                    top = bottom = left = right = 0
                if op["op"] == "conv":
                    weight = op["kernel"].transpose(3, 2, 0, 1)  # HWIO -> OIHW
                    group = 1
                else:
                    weight = op["kernel"].transpose(2, 3, 0, 1)  # H W C 1 -> C 1 H W
                    group = weight.shape[0]
                nodes.append(helper.make_node(
                    "Conv", [x[0], constant(op["name"] + "_w", np.ascontiguousarray(weight)),
                             constant(op["name"] + "_b", op["bias"])], [raw],
                    kernel_shape=[k, k], strides=[s, s], pads=[top, left, bottom, right], group=group))
                names[op["name"]] = activation(op, raw)
            elif op["op"] == "maxpool":
                nodes.append(helper.make_node("MaxPool", x, [op["name"]], kernel_shape=[2, 2], strides=[2, 2]))
                names[op["name"]] = op["name"]
            elif op["op"] == "add":
                nodes.append(helper.make_node("Add", x, [raw]))
                names[op["name"]] = activation(op, raw)
            elif op["op"] == "gap":
                nodes.append(helper.make_node("GlobalAveragePool", x, [raw]))
                nodes.append(helper.make_node("Flatten", [raw], [op["name"]], axis=1))
                names[op["name"]] = op["name"]
            elif op["op"] == "flatten":
                nodes.append(helper.make_node("Flatten", x, [op["name"]], axis=1))
                names[op["name"]] = op["name"]
            elif op["op"] == "dense":
                kernel = op["kernel"]
                source = next((o for o in self.ops if o["name"] == op["inputs"][0]), None)
                if source is not None and source["op"] == "flatten":
                    # Row r of the NCHW flattening is (c, h, w); Keras's row for it is (h, w, c).
                    h, w, c = source["from"]
                    kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
                nodes.append(helper.make_node(
                    "Gemm", [x[0], constant(op["name"] + "_w", np.ascontiguousarray(kernel)),
                             constant(op["name"] + "_b", op["bias"])], [raw]))
                names[op["name"]] = activation(op, raw)
        h, w, c = self.input_shape
        graph = helper.make_graph(
            nodes, self.name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", c, h, w])],
            [helper.make_tensor_value_info(names[self.ops[-1]["name"]], TensorProto.FLOAT, ["N", self.output_size])],
            initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model
