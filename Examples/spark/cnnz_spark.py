"""The worker side of the Spark example: encoded image bytes in, cnnz scores out, one engine call per batch.

Spark's Python workers import this module (the driver ships it with
`SparkContext.addPyFile`), so the model cache below lives once per worker
process: the model's bytes arrive as a broadcast and are loaded once, and each
worker runs its batches through the one session its thread owns.

The job uses `mapInArrow`: each batch of rows arrives as an Arrow record
batch, and its column of image bytes goes to the engine as it is
(`cnnz.Model.predict_encoded` reads an Arrow binary array in place), which
decodes every image itself (PNG, JPEG or Netpbm, as `infer` and
`cnnz_classify_file` do: converted to the model's channels and resized when
needed) and runs them in engine passes, with the GIL released. The worker's
Python then builds the result columns with a handful of NumPy and Arrow calls
per batch, not per image, so the scores are the engine's own, bit for bit,
and the per-image cost is the engine's. An image that cannot be read gets a
row with an `error` and no scores; the job goes on.

When the images are a folder every worker sees (`--read workers`, the default
on a local master), the batches hold only the files' names: the worker reads
the files itself (`read_files`), so the bytes never pass through the JVM.
"""
from typing import Dict, Iterator, Optional, Tuple

import numpy as np
import pyarrow as pa

import cnnz

#: The result table: one row per input image.
RESULT_SCHEMA = "file string, label string, probability float, scores array<float>, error string"
RESULT_ARROW_SCHEMA = pa.schema([("file", pa.string()), ("label", pa.string()), ("probability", pa.float32()),
                                 ("scores", pa.list_(pa.float32())), ("error", pa.string())])

#: Images per engine pass (the session's batch capacity) at most: one call runs a whole Arrow batch in
#: passes of this many. A pass of 64 large images needs hundreds of MB of working memory, which two
#: workers side by side then fight over; 8 keeps it small and still amortizes each layer's setup.
ENGINE_BATCH = 8
#: Input pixels per engine pass: a pass whose activations outgrow the caches costs more per image
#: (224x224x3 MobileNet-style, CPU per image: 4.6 ms in passes of 1 or 2, 5.8 to 6.1 ms in passes
#: of 8; 96x96: 0.83 to 0.85 ms in passes of 2 or 4, 0.86 to 0.95 ms in passes of 8).
ENGINE_PIXELS = 4 * 96 * 96


def engine_batch(input_shape: Tuple[int, int, int]) -> int:
    """Images per engine pass for a model with this input shape (height, width, channels)."""
    height, width, _ = input_shape
    return max(1, min(ENGINE_BATCH, ENGINE_PIXELS // (height * width)))

_models: Dict[str, cnnz.Model] = {}


def model_for(model_bytes, model_key: str) -> cnnz.Model:
    """The worker's model for a broadcast of its bytes, loaded on first use."""
    model = _models.get(model_key)
    if model is None:
        probe = cnnz.Model(model_bytes.value, batch_capacity=1)  # for its input shape: loading is cheap
        model = cnnz.Model(model_bytes.value, batch_capacity=engine_batch(probe.input_shape))
        probe.close()
        _models[model_key] = model
    return model


def classify_batch(model: cnnz.Model, files: pa.Array, contents: pa.Array,
                   failures: Optional[Dict[int, str]] = None) -> pa.RecordBatch:
    """Classifies one batch of images (an Arrow string array of names, a binary array of their bytes);
    `failures` gives the reason for rows whose bytes could not be read (null in `contents`)."""
    outputs, messages = model.predict_encoded(contents, errors="return")
    for row, reason in (failures or {}).items():
        messages[row] = reason
    count = len(outputs)
    # As cnnz.Model.classify: outputs that are not all in 0...1 get a softmax.
    needs_softmax = (outputs.min(axis=1) < 0) | (outputs.max(axis=1) > 1)
    with np.errstate(invalid="ignore"):  # NaN rows of images that failed
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        probability_rows = np.where(needs_softmax[:, None], shifted / shifted.sum(axis=1, keepdims=True), outputs)
    best = np.nan_to_num(probability_rows).argmax(axis=1)
    failed = np.array([message is not None for message in messages]) if any(messages) else np.zeros(count, bool)
    names = model.labels or [f"class {i}" for i in range(model.output_size)]
    labels = pa.array(np.asarray(names, dtype=object)[best], pa.string(), mask=failed)
    probability = pa.array(probability_rows[np.arange(count), best], pa.float32(), mask=failed)
    offsets = pa.array(np.arange(0, (count + 1) * model.output_size, model.output_size, dtype=np.int32))
    scores = pa.ListArray.from_arrays(offsets, pa.array(outputs.reshape(-1)), mask=pa.array(failed))
    if failed.any():
        file_names = files.to_pylist()
        errors = pa.array([None if message is None else f"{file_names[row]}: {message}"
                           for row, message in enumerate(messages)], pa.string())
    else:
        errors = pa.nulls(count, pa.string())
    return pa.RecordBatch.from_arrays([files, labels, probability, scores, errors], schema=RESULT_ARROW_SCHEMA)


def local_path(uri: str) -> str:
    """The local path of a file Spark lists as `file:/a/b.png` (Hadoop's Path prints it unescaped)."""
    if uri.startswith("file://"):
        return uri[len("file://"):] if uri.startswith("file:///") else uri[len("file:"):]
    return uri[len("file:"):] if uri.startswith("file:") else uri


def read_files(files: pa.Array) -> Tuple[pa.Array, Dict[int, str]]:
    """The bytes of the files named in `files` (Spark URIs of a file system this worker mounts) as an
    Arrow binary array, and for files that could not be read their row and the reason (their bytes
    are null: the engine reports nothing for them, the reason is the OS's)."""
    contents, failures = [], {}
    for row, uri in enumerate(files.to_pylist()):
        try:
            with open(local_path(uri), "rb") as file:
                contents.append(file.read())
        except OSError as error:
            contents.append(None)
            failures[row] = error.strerror or str(error)
    return pa.array(contents, pa.binary()), failures


def classify_partition(model_bytes, model_key: str, batch_size: int,
                       batches: Iterator[pa.RecordBatch], read: bool = False) -> Iterator[pa.RecordBatch]:
    """The `mapInArrow` function: record batches of (file, content) rows in, result rows out; with
    `read`, batches of (file) rows, whose files this worker reads itself."""
    model = model_for(model_bytes, model_key)
    for batch in batches:
        files = batch.column("file")
        if files.type != pa.string():  # large_string, when Spark sends large variable-width types
            files = files.cast(pa.string())
        for start in range(0, batch.num_rows, batch_size):
            names = files.slice(start, batch_size)
            if read:
                contents, failures = read_files(names)
                yield classify_batch(model, names, contents, failures)
            else:
                yield classify_batch(model, names, batch.column("content").slice(start, batch_size))
