"""The worker side of the Spark example: Netpbm bytes in, cnnz scores out, in batches.

Spark's Python workers import this module (the driver ships it with
`SparkContext.addPyFile`), so the model cache below lives once per worker
process: the model's bytes arrive as a broadcast and are loaded once, and each
worker runs its batches through the one session its thread owns.

Images are decoded here, from the bytes Spark read, into the model's pixels
(`cnnz.Model.predict` with uint8 input applies the model's preprocessing), so
the scores are the engine's own, bit for bit, for every image it can take
as it is: Netpbm (P2, P3, P5, P6) with 8-bit samples (maxval 255) at the
model's width and height, gray or RGB (a gray image for an RGB model is
repeated into three channels). Any other image gets a row with an `error`
and no scores; the job goes on.
"""
import re
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import pandas as pd

import cnnz

#: The result table: one row per input image.
RESULT_SCHEMA = "file string, label string, probability float, scores array<float>, error string"

_models: Dict[Tuple[str, int], cnnz.Model] = {}

# "P5", then width, height and maxval separated by whitespace or comments, then one whitespace byte.
_SEPARATOR = rb"(?:\s|#[^\r\n]*)+"
_HEADER = re.compile(rb"P([2356])" + (_SEPARATOR + rb"(\d{1,9})") * 3 + rb"(\s)")
_ASCII_SAMPLES = re.compile(rb"[0-9\s]*")


#: Images per engine pass. A `predict` call with more runs them in passes of this many: a pass
#: of 64 large images needs hundreds of MB of working memory, which two workers side by side
#: then fight over; 8 keeps it small and still amortizes each layer's setup.
ENGINE_BATCH = 8


def model_for(model_bytes, model_key: str, batch_size: int) -> cnnz.Model:
    """The worker's model for a broadcast of its bytes, loaded on first use."""
    model = _models.get((model_key, batch_size))
    if model is None:
        model = cnnz.Model(model_bytes.value, batch_capacity=min(batch_size, ENGINE_BATCH))
        _models[(model_key, batch_size)] = model
    return model


def decode_netpbm(data: bytes, shape: Tuple[int, int, int]) -> np.ndarray:
    """Decodes one Netpbm image into uint8 pixels of `shape` (height, width, channels).

    Raises ValueError (a one-line reason) for anything else: another format,
    a malformed or short file, samples that are not 8-bit, another size, or
    an RGB image for a gray model. The size is checked before the samples are
    read, so a file cannot make this allocate more than one image of `shape`.
    """
    height, width, channels = shape
    header = _HEADER.match(data)
    if header is None:
        if not data.startswith((b"P2", b"P3", b"P5", b"P6")):
            raise ValueError("not a Netpbm image (P2, P3, P5 or P6)")
        raise ValueError("malformed Netpbm header")
    kind = header.group(1)
    image_width, image_height, maxval = (int(header.group(i)) for i in (2, 3, 4))
    image_channels = 3 if kind in (b"3", b"6") else 1
    if maxval != 255:
        raise ValueError(f"maxval {maxval}: only 8-bit images (maxval 255) are run in batches here")
    if (image_height, image_width) != (height, width):
        raise ValueError(f"the image is {image_width}x{image_height}, the model takes {width}x{height}")
    if image_channels == 3 and channels != 3:
        raise ValueError(f"an RGB image, the model takes {channels} channel(s)")
    count = height * width * image_channels
    body = data[header.end():]
    if kind in (b"5", b"6"):
        if len(body) < count:
            raise ValueError(f"{count} bytes of samples needed, the file has {len(body)}")
        pixels = np.frombuffer(body, dtype=np.uint8, count=count)
    else:
        text = re.sub(rb"#[^\r\n]*", b" ", body) if b"#" in body else body
        if _ASCII_SAMPLES.fullmatch(text) is None:
            raise ValueError("an ASCII sample is not a number")
        # Parsed in C (strtoll: a run of digits too long for int64 saturates, and is then above 255).
        values = np.fromstring(text, dtype=np.int64, sep=" ")
        if len(values) < count:
            raise ValueError(f"{count} ASCII samples needed, the file has {len(values)}")
        values = values[:count]
        if values.max() > 255:
            raise ValueError("a sample is above maxval 255")
        pixels = values.astype(np.uint8)
    pixels = pixels.reshape(height, width, image_channels)
    if image_channels != channels:
        pixels = np.repeat(pixels, channels, axis=2)
    return pixels


def classify_frame(model: cnnz.Model, files: List[str], contents: List[Optional[bytes]]) -> pd.DataFrame:
    """Classifies one batch: decodes every image, runs the good ones in one `predict` call."""
    pixels = np.empty((len(files),) + model.input_shape, dtype=np.uint8)
    good: List[int] = []
    errors: List[Optional[str]] = [None] * len(files)
    for row, data in enumerate(contents):
        try:
            if data is None:
                raise ValueError("no image bytes")
            pixels[len(good)] = decode_netpbm(data, model.input_shape)
            good.append(row)
        except ValueError as error:
            errors[row] = f"{files[row]}: {error}"
    labels: List[Optional[str]] = [None] * len(files)
    probabilities = np.full(len(files), np.nan, dtype=np.float32)
    scores: List[Optional[np.ndarray]] = [None] * len(files)
    if good:
        outputs = model.predict(pixels[: len(good)])
        # As cnnz.Model.classify: outputs that are not all in 0...1 get a softmax.
        needs_softmax = (outputs.min(axis=1) < 0) | (outputs.max(axis=1) > 1)
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        probability_rows = np.where(needs_softmax[:, None], shifted / shifted.sum(axis=1, keepdims=True), outputs)
        best = probability_rows.argmax(axis=1)
        for i, row in enumerate(good):
            labels[row] = model.labels[best[i]] if model.labels else f"class {best[i]}"
            probabilities[row] = probability_rows[i, best[i]]
            scores[row] = outputs[i]
    return pd.DataFrame({"file": files, "label": labels, "probability": probabilities, "scores": scores,
                         "error": errors})


def classify_partition(model_bytes, model_key: str, batch_size: int,
                       frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The `mapInPandas` function: frames of (file, content) rows in, result rows out."""
    model = model_for(model_bytes, model_key, batch_size)
    for frame in frames:
        files = frame["file"].tolist()
        contents = frame["content"].tolist()
        for start in range(0, len(files), batch_size):
            yield classify_frame(model, files[start:start + batch_size], contents[start:start + batch_size])
