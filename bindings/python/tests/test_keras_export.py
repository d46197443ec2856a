"""The Keras exporter: Keras models of every layer kind of docs/model-json.md, saved as
.keras (and .h5), exported, converted and run by cnnz, agree with Keras's predict.

Skipped when Keras 3 is not installed (`pip install "./bindings/python[keras]"`),
unless CNNZ_REQUIRE_KERAS=1 (as .ci/run sets), where a missing Keras fails.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import cnnz
from cnnz._keras_graph import ExportError, import_keras

try:
    keras = import_keras()
except ExportError as error:
    if os.environ.get("CNNZ_REQUIRE_KERAS") == "1":
        raise
    pytest.skip(f"Keras 3 is not installed, so the exporter is not tested ({error})", allow_module_level=True)

from cnnz import keras_export  # noqa: E402  (after the skip: needs nothing, but documents the order)

L = keras.layers
SEED = 20261202
# Keras's JAX backend calls np.array on its tensors the way NumPy 2 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def randomize(model, seed=SEED):
    """Random weights of a scale that keeps activations near 1; variances stay positive."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if "float" not in str(variable.dtype):
            continue  # the random layers' seed states
        if True:
            shape = tuple(variable.shape)
            if "variance" in variable.path:
                value = rng.uniform(0.5, 1.5, shape)
            elif "mean" in variable.path or "beta" in variable.path or "bias" in variable.path:
                value = rng.normal(0, 0.2, shape)
            elif "gamma" in variable.path:
                value = rng.uniform(0.5, 1.5, shape)
            else:
                fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
                value = rng.normal(0, 1.2 / np.sqrt(max(fan_in, 1)), shape)
            variable.assign(value.astype(np.float32))
    return model


def sequential_classifier():
    """Rescaling at the input; Conv2D, BatchNormalization, pooling, Dropout, Flatten, Dense softmax."""
    return keras.Sequential([
        keras.Input((16, 16, 1)),
        L.Rescaling(1 / 255),
        L.Conv2D(8, 3, activation="relu"),
        L.BatchNormalization(),
        L.MaxPooling2D(),
        L.Conv2D(8, 3, strides=2, padding="same", use_bias=False),
        L.BatchNormalization(center=False),
        L.ReLU(),
        L.Dropout(0.5),
        L.AveragePooling2D(pool_size=(2, 1), padding="same"),
        L.Flatten(),
        L.Dense(16, activation="tanh"),
        L.Dense(5, activation="softmax"),
    ], name="sequential_classifier")


def activations():
    """Every activation name, as a layer option and as a layer, on parallel branches (a chain saturates)."""
    image = keras.Input((6, 6, 3))
    stem = L.Conv2D(6, 3, padding="same")(L.Rescaling(1 / 127.5, offset=-1)(image))
    branches = []
    for name in ("relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "silu",
                 "swish", "hard_silu", "hard_swish", "gelu", "linear", "softmax"):
        branches += [L.Conv2D(2, 1, activation=name)(stem), L.Activation(name)(stem)]
    branches += [L.ReLU(max_value=0.8, negative_slope=0.1, threshold=0.2)(stem),
                 L.LeakyReLU(negative_slope=0.05)(stem), L.Softmax()(stem)]
    x = L.Concatenate()(branches)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(image, L.Dense(3, activation="softmax")(x), name="activations")


def functional_residual():
    """Rescaling then per-channel Normalization at the input, a branchy graph, Add of three, Concatenate."""
    image = keras.Input((15, 13, 3), name="image")
    x = L.Rescaling(1 / 255)(image)
    x = L.Normalization(mean=[0.485, 0.456, 0.406], variance=[0.052, 0.050, 0.051])(x)
    x = L.ZeroPadding2D(((1, 2), (0, 1)))(x)
    x = L.Conv2D(12, (3, 5), strides=(2, 1), activation="relu", name="stem")(x)
    a = L.DepthwiseConv2D(3, depth_multiplier=2, dilation_rate=2, padding="same")(x)
    a = L.BatchNormalization(scale=False)(a)
    b = L.Conv2D(24, 1, groups=3, activation="hard_silu")(x)
    c = L.Conv2D(24, 3, padding="same", dilation_rate=(1, 2))(x)
    s = L.Add()([a, b, c])
    s = L.BatchNormalization(axis=3)(s)
    p = L.AveragePooling2D(3, strides=2, padding="same")(s)
    q = L.MaxPooling2D(3, strides=2, padding="same")(s)
    j = L.Concatenate()([p, q, L.Conv2D(5, 1)(p)])
    d = L.Dense(8, activation="elu")(j)  # on [H, W, C]: acts on channels
    g = L.GlobalMaxPooling2D(keepdims=True)(d)
    f = L.Flatten()(g)
    out = L.Dense(4, activation="sigmoid", name="scores")(f)
    return keras.Model(image, out, name="functional_residual")


def functional_nested():
    """Nested models, SeparableConv2D, inference no-ops, a Rescaling in the middle, a shared layer."""
    augment = keras.Sequential([L.RandomFlip(), L.RandomRotation(0.1), L.RandomZoom(0.1),
                                L.RandomTranslation(0.1, 0.1), L.RandomContrast(0.2), L.RandomBrightness(0.1)],
                               name="augment")
    inner_input = keras.Input((10, 10, 8))
    y = L.SeparableConv2D(8, 3, padding="same", depth_multiplier=2, activation="relu6")(inner_input)
    y = L.SpatialDropout2D(0.2)(y)
    y = L.GaussianNoise(0.3)(y)
    y = L.Add()([y, inner_input])
    block = keras.Model(inner_input, y, name="block")
    image = keras.Input((10, 10, 3))
    x = L.Rescaling(2 / 255, offset=-1)(image)
    x = augment(x)
    x = L.Conv2D(8, 3, padding="same", activation="gelu")(x)
    x = block(x)
    x = L.Rescaling(0.5, offset=0.25)(x)
    x = block(x)  # the same block again: its layers are written twice, with the same weights
    x = L.Flatten()(x)
    x = L.Dense(8, activation="relu")(x)
    x = L.GaussianDropout(0.1)(x)
    x = L.AlphaDropout(0.1)(x)
    x = L.ActivityRegularization(0.01)(x)
    x = L.Identity()(x)
    x = L.Dense(3, activation="softmax")(x)
    return keras.Model(image, x, name="functional_nested")


def flat_vector():
    """A flat input (written as [1, 1, N]) with a per-channel Normalization as preprocessing."""
    rng = np.random.default_rng(1)
    return keras.Sequential([
        keras.Input((20,)),
        L.Normalization(mean=rng.uniform(50, 200, 20), variance=rng.uniform(100, 900, 20)),
        L.Dense(16, activation="selu"),
        L.Dropout(0.1),
        L.Dense(6),
        L.Softmax(axis=1),
    ], name="flat_vector")


MODELS = [sequential_classifier, activations, functional_residual, functional_nested, flat_vector]


@pytest.fixture(scope="module")
def convert_command(repository):
    binary = repository / ".build" / "debug" / "convert"
    if binary.exists():
        return [str(binary)]
    return ["swift", "run", "--package-path", str(repository), "convert"]


def convert(convert_command, json_path):
    result = subprocess.run(convert_command + [str(json_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json_path.with_suffix(".cnnz")


def pixels(model_input_shape, count, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(count,) + tuple(model_input_shape)).astype(np.uint8)


@pytest.mark.parametrize("build", MODELS, ids=[m.__name__ for m in MODELS])
def test_exported_model_computes_what_keras_computes(build, tmp_path, convert_command):
    model = randomize(build())
    model.save(tmp_path / "model.keras")
    document = cnnz.export(str(tmp_path / "model.keras"), tmp_path / "model.json")
    assert "preprocess" in document  # every model here starts with Rescaling or Normalization
    assert not any(layer["class_name"] in ("Rescaling", "Normalization", "Dropout") for layer in document["layers"])
    cnnz_model = cnnz.Model(convert(convert_command, tmp_path / "model.json"), batch_capacity=4)
    assert cnnz_model.selftest() <= document["selftest"]["tolerance"]
    images = pixels(model.inputs[0].shape[1:], 6, seed=7)
    expected = model.predict(images.astype(np.float32), verbose=0).reshape(len(images), -1)
    # uint8 pixels: cnnz applies the model.json preprocessing that replaced the Keras layers.
    flat_images = images.reshape((len(images),) + cnnz_model.input_shape)
    actual = cnnz_model.predict(flat_images)
    assert actual.shape == expected.shape
    assert np.max(np.abs(actual - expected)) <= 1e-4 * max(1.0, np.max(np.abs(expected)))
    assert np.max(np.std(expected, axis=0)) > 1e-2  # the outputs depend on the input: the comparison means something


def test_h5_file(tmp_path, convert_command):
    model = randomize(sequential_classifier())
    model.save(tmp_path / "model.h5")  # Keras 3 still writes the legacy HDF5 format
    cnnz.export(str(tmp_path / "model.h5"), tmp_path / "model.json")
    cnnz_model = cnnz.Model(convert(convert_command, tmp_path / "model.json"))
    images = pixels((16, 16, 1), 4, seed=3)
    expected = model.predict(images.astype(np.float32), verbose=0)
    assert np.max(np.abs(cnnz_model.predict(images) - expected)) <= 1e-4


def test_model_object_without_preprocessing(tmp_path, convert_command):
    model = randomize(keras.Sequential([keras.Input((5, 7, 2)), L.Conv2D(3, 3, padding="same"),
                                        L.GlobalAveragePooling2D(), L.Dense(4)], name="plain"))
    import cnnz.export  # the module: calling it calls the function, so cnnz.export(...) still works

    document = cnnz.export(model, tmp_path / "plain.json", labels=["a", "b", "c", "d"], name="renamed")
    assert "preprocess" not in document and document["name"] == "renamed"
    cnnz_model = cnnz.Model(convert(convert_command, tmp_path / "plain.json"))
    assert cnnz_model.labels == ["a", "b", "c", "d"] and cnnz_model.name == "renamed"
    x = np.random.default_rng(5).normal(size=(3, 5, 7, 2)).astype(np.float32)
    assert np.max(np.abs(cnnz_model.predict(x) - model.predict(x, verbose=0))) <= 1e-4


def test_selftest_holds_prepared_input_and_keras_output(tmp_path):
    model = randomize(sequential_classifier())
    document = keras_export.to_model_json(model)
    selftest = document["selftest"]
    prepared = np.frombuffer(__import__("base64").b64decode(selftest["input"]["base64"]), "<f4")
    assert selftest["input"]["shape"] == [16, 16, 1]
    pixels_back = prepared * 255
    assert np.allclose(pixels_back, np.round(pixels_back), atol=1e-3) and pixels_back.max() > 200
    output = np.frombuffer(__import__("base64").b64decode(selftest["output"]["base64"]), "<f4")
    keras_output = model.predict(np.round(pixels_back).reshape(1, 16, 16, 1), verbose=0).reshape(-1)
    assert np.max(np.abs(output - keras_output)) <= 1e-6


def run_cli(*arguments, env=None):
    environment = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "cnnz.export", *map(str, arguments)], capture_output=True,
                          text=True, env=environment, cwd=os.path.dirname(os.path.dirname(cnnz.__file__)))


def test_cli_with_labels_and_cnnz(tmp_path, convert_command):
    model = randomize(sequential_classifier())
    model.save(tmp_path / "m.keras")
    (tmp_path / "labels.txt").write_text("zero\none\ntwo\nthree\nfour\n")
    env = {"CNNZ_CONVERT": convert_command[0]} if len(convert_command) == 1 else {}
    result = run_cli(tmp_path / "m.keras", "-o", tmp_path / "out.json", "--labels", tmp_path / "labels.txt",
                     "--cnnz", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out.json").read_text())["labels"][4] == "four"
    assert cnnz.Model(tmp_path / "out.cnnz").labels == ["zero", "one", "two", "three", "four"]


@pytest.fixture
def cli(capsys):
    """Runs the command line in this process (a Keras import per process is slow); returns (status, stderr)."""

    def run(*arguments):
        status = keras_export.main([str(a) for a in arguments])
        return status, capsys.readouterr().err

    return run


def expect_error(result, *fragments):
    status, stderr = result
    assert status == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_unknown_layer_is_refused_with_its_name_and_class(tmp_path, cli):
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(2, 3), L.UpSampling2D(name="grow"), L.Flatten()])
    model.save(tmp_path / "m.keras")
    expect_error(cli(tmp_path / "m.keras"), "'grow'", "(UpSampling2D)", "no such layer")
    assert not (tmp_path / "m.json").exists()


def test_unknown_activation_and_other_axes_are_refused(tmp_path, cli):
    model = keras.Sequential([keras.Input((4, 4, 2)), L.Conv2D(2, 1, activation="softplus", name="soft")])
    model.save(tmp_path / "a.keras")
    expect_error(cli(tmp_path / "a.keras"), "'soft' (Conv2D)", "softplus")
    model = keras.Sequential([keras.Input((4, 4, 2)), L.Softmax(axis=1, name="rows")])
    model.save(tmp_path / "b.keras")
    expect_error(cli(tmp_path / "b.keras"), "'rows' (Softmax)", "axis 1")


def test_several_outputs_are_refused(tmp_path, cli):
    x = keras.Input((4, 4, 1))
    model = keras.Model(x, [L.Conv2D(1, 1)(x), L.Conv2D(1, 1)(x)])
    model.save(tmp_path / "m.keras")
    expect_error(cli(tmp_path / "m.keras"), "2 outputs")


def test_bad_labels_files(tmp_path, cli):
    model = randomize(sequential_classifier())
    model.save(tmp_path / "m.keras")
    (tmp_path / "three.txt").write_text("a\nb\nc\n")
    expect_error(cli(tmp_path / "m.keras", "--labels", tmp_path / "three.txt"), "3 labels", "5 outputs")
    (tmp_path / "gap.txt").write_text("a\nb\n\nd\ne\n")
    expect_error(cli(tmp_path / "m.keras", "--labels", tmp_path / "gap.txt"), "line 3 is empty")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    expect_error(cli(tmp_path / "m.keras", "--labels", tmp_path / "latin1.txt"), "not UTF-8")
    expect_error(cli(tmp_path / "m.keras", "--labels", tmp_path / "missing.txt"), "missing.txt")
    assert not (tmp_path / "m.json").exists()


def test_bad_model_files(tmp_path, cli):
    expect_error(cli(tmp_path / "missing.keras"), "no such file")
    (tmp_path / "junk.keras").write_bytes(b"not a zip file")
    expect_error(cli(tmp_path / "junk.keras"), "junk.keras", "Keras cannot load it")
    (tmp_path / "model.cnnz").write_bytes(b"CNNZ")
    expect_error(cli(tmp_path / "model.cnnz"), "not a .keras or .h5 file")


def test_custom_layer_is_refused(tmp_path):
    class Doubled(L.Dense):
        def call(self, x):
            return super().call(x) * 2

    model = keras.Sequential([keras.Input((3,)), Doubled(2, name="twice")])
    with pytest.raises(ExportError, match="'twice' \\(Doubled\\): is a custom layer class"):
        keras_export.to_model_json(model)


def test_import_cnnz_does_not_import_keras():
    code = "import sys, cnnz; assert 'keras' not in sys.modules and callable(cnnz.export); print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.dirname(cnnz.__file__)))
    assert result.stdout.strip() == "ok", result.stderr


def test_open_input_size_needs_a_shape(tmp_path, convert_command):
    image = keras.Input((None, None, 3))
    model = randomize(keras.Model(image, L.Dense(2)(L.GlobalMaxPooling2D()(L.Conv2D(4, 3)(image)))))
    with pytest.raises(ExportError, match="unknown size"):
        keras_export.to_model_json(model)
    cnnz.export(model, tmp_path / "open.json", input_shape=(9, 11, 3))
    cnnz_model = cnnz.Model(convert(convert_command, tmp_path / "open.json"))
    x = np.random.default_rng(2).normal(size=(2, 9, 11, 3)).astype(np.float32)
    assert cnnz_model.input_shape == (9, 11, 3)
    assert np.max(np.abs(cnnz_model.predict(x) - model.predict(x, verbose=0))) <= 1e-4


def test_unbuilt_model_and_unwritable_path(tmp_path):
    with pytest.raises(ExportError, match="no input shape yet"):
        keras_export.to_model_json(keras.Sequential([L.Dense(3)]))
    model = keras.Sequential([keras.Input((4,)), L.Dense(3)])
    with pytest.raises(ExportError, match="cannot write .*missing/m.json: No such file"):
        cnnz.export(model, tmp_path / "missing" / "m.json")
    with pytest.raises(ExportError, match="labels must be strings"):
        keras_export.to_model_json(model, labels=[1, 2, 3])
    assert list(tmp_path.iterdir()) == []


def test_adapted_normalization_becomes_preprocessing(tmp_path, convert_command):
    data = np.random.default_rng(4).uniform(0, 255, (40, 6, 6, 3)).astype(np.float32)
    for axis in (-1, None):  # one mean and variance per channel, or one for everything
        normalization = L.Normalization(axis=axis)
        normalization.adapt(data)
        model = randomize(keras.Sequential([keras.Input((6, 6, 3)), normalization, L.Conv2D(2, 3), L.Flatten()]))
        document = cnnz.export(model, tmp_path / "n.json")
        assert len(document["preprocess"]["mean"]) == (3 if axis == -1 else 1)
        cnnz_model = cnnz.Model(convert(convert_command, tmp_path / "n.json"))
        images = pixels((6, 6, 3), 3, seed=3)
        expected = model.predict(images.astype(np.float32), verbose=0)
        assert np.max(np.abs(cnnz_model.predict(images) - expected)) <= 1e-4
