"""cnnz: run .cnnz CNN models from Python through libcnnz (ctypes, NumPy).

    import cnnz
    model = cnnz.Model("model.cnnz")
    model.classify("shirt.pgm")              # top 3: [("Shirt", 0.81), ...], as `infer`
    model.predict(images)                    # (N, H, W, C) float32 or uint8 -> (N, outputs)
    print(model.profile())                   # each layer's time, as `infer --profile`

classify() warns (cnnz.ResizeWarning) when it resizes an image, as `infer`
prints a note; predict() takes only a batch of float32 or uint8 and refuses
anything else rather than guessing (see its docstring).

The library is found through the CNNZ_LIBRARY environment variable, a copy
bundled at install time, or the cnnz repository's .build folder.
"""
import ctypes
import os
import stat
import threading
import warnings

import numpy as np

from . import _encoded, _lib, _profile
from ._lib import LibraryNotFound

__all__ = ["Model", "Error", "LibraryNotFound", "ResizeWarning", "version", "export", "Layer", "LayerTime", "Profile"]

Layer, LayerTime, Profile = _profile.Layer, _profile.LayerTime, _profile.Profile

OK, ERROR_ARGUMENT, ERROR_IO, ERROR_FORMAT, ERROR_UNSUPPORTED, ERROR_MEMORY, ERROR_INTERNAL = range(7)

_library = None
_library_lock = threading.Lock()
_Byte = ctypes.c_ubyte  # an array's first byte, for the POINTER(c_ubyte) parameters of predict's calls


def _lib_handle():
    global _library
    with _library_lock:
        if _library is None:
            _library = _lib.load()
        return _library


class Error(Exception):
    """An error reported by the engine. `status` is the cnnz_status code."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class ResizeWarning(UserWarning):
    """Model.classify resized an image whose size differs from the model's input.

    The same note `infer` prints on stderr; silence it with
    `warnings.simplefilter("ignore", cnnz.ResizeWarning)`.
    """


def _check(lib, status):
    if status != OK:
        raise Error(status, lib.cnnz_last_error().decode("utf-8", "replace"))


def export(model, path, **options):
    """Writes the model.json of a Keras model (object or .keras/.h5 path) for cnnz's convert.

    Needs Keras 3 (`pip install keras jax`); see `cnnz.keras_export.export`
    for the options (labels, name, input_shape, selftest_input).
    """
    from .keras_export import export as export_keras  # Keras is imported only here

    return export_keras(model, path, **options)


def version():
    """The version of the loaded libcnnz, "MAJOR.MINOR.PATCH"."""
    return _lib_handle().cnnz_version().decode()


# The most bytes of an image file the engine reads (ImageReader.fileByteLimit: 2^26 pixels x 7).
_IMAGE_BYTE_LIMIT = 7 << 26


def _read_image(encoded_path):
    """The first _IMAGE_BYTE_LIMIT bytes of a file (the engine ignores the rest), or b"" if it cannot
    be opened or read (the caller then lets the engine report why)."""
    try:
        with open(encoded_path, "rb", buffering=0) as file:
            info = os.fstat(file.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size <= _IMAGE_BYTE_LIMIT:
                return file.readall()
            chunks, total = [], 0  # a larger file's prefix, or a pipe or device, up to the limit
            while total < _IMAGE_BYTE_LIMIT:
                chunk = file.read(min(1 << 16, _IMAGE_BYTE_LIMIT - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            return b"".join(chunks)
    except OSError:
        return b""


class Model:
    """A loaded .cnnz model: immutable, usable from any number of Python threads.

    Each thread gets its own engine session (its own working memory) on first
    use; the GIL is released while the engine runs.
    """

    def __init__(self, source, batch_capacity=8, threads=1, max_memory=None):
        """Loads a model from a path (str or os.PathLike) or from bytes.

        Each Python thread that uses the model gets a session that runs up to
        `batch_capacity` images per pass and splits each layer over `threads`
        engine threads (more than one helps large models; outputs are the same).

        `max_memory` is the model's memory budget in bytes (default 1 GiB): a
        model that needs more to load, or whose session would not fit beside
        it, raises `Error` with status ERROR_MEMORY and says what it needs.
        """
        lib = _lib_handle()
        self._lib = lib
        self._pointer = _lib.ModelPointer()
        self._batch_capacity = int(batch_capacity)
        self._threads = int(threads)
        if self._batch_capacity < 1:
            raise Error(ERROR_ARGUMENT, f"batch_capacity must be at least 1, got {batch_capacity}")
        options = _lib.LoadOptions()
        options.struct_size = ctypes.sizeof(_lib.LoadOptions)
        if max_memory is not None:
            if isinstance(max_memory, bool) or not isinstance(max_memory, int) or max_memory < 1:
                raise Error(ERROR_ARGUMENT, f"max_memory must be a positive number of bytes, got {max_memory!r}")
            options.max_memory = min(max_memory, 2**63 - 1)
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            _check(lib, lib.cnnz_model_load_memory_with(data, len(data), ctypes.byref(options),
                                                        ctypes.byref(self._pointer)))
        elif isinstance(source, (str, os.PathLike)):
            _check(lib, lib.cnnz_model_load_with(os.fsencode(source), ctypes.byref(options),
                                                 ctypes.byref(self._pointer)))
        else:
            raise TypeError(f"Model() takes a path or bytes, not {type(source).__name__}")
        h, w, c = ctypes.c_int32(), ctypes.c_int32(), ctypes.c_int32()
        _check(lib, lib.cnnz_model_input_shape(self._pointer, ctypes.byref(h), ctypes.byref(w), ctypes.byref(c)))
        self.input_shape = (h.value, w.value, c.value)
        self.output_size = lib.cnnz_model_output_size(self._pointer)
        labels = [lib.cnnz_model_label(self._pointer, i) for i in range(self.output_size)]
        self.labels = [label.decode() for label in labels] if labels and labels[0] is not None else []
        self.name = lib.cnnz_model_name(self._pointer).decode()
        #: "float32", "int8" or "weights-int8" (int8 weights, float32 compute).
        self.precision = lib.cnnz_model_precision(self._pointer).decode()
        #: The layers in execution order (after the converter's folding): cnnz.Layer(name, type, macs).
        self.layers = _profile.read_layers(lib, self._pointer, _check)
        self._runs = {np.dtype(np.float32): lib.cnnz_run_buffers, np.dtype(np.uint8): lib.cnnz_run_u8_buffers}
        self._local = threading.local()
        self._sessions = []
        self._sessions_lock = threading.Lock()

    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            if not self._pointer:
                raise Error(ERROR_ARGUMENT, "the model is closed")
            session = _lib.SessionPointer()
            _check(self._lib, self._lib.cnnz_session_create_with(self._pointer, self._batch_capacity, self._threads,
                                                                 ctypes.byref(session)))
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def predict(self, x):
        """Runs a batch of images and returns their outputs, shape (N, output_size), float32.

        `x` is a NumPy array shaped (N, H, W, C) to match `input_shape`, of
        dtype float32 (already preprocessed) or uint8 (pixels 0...255; the
        model's preprocessing is applied). Nothing else is accepted, because
        each guess would be silently wrong for someone: float64 would be
        narrowed, integer pixel values of another dtype would skip the
        preprocessing, and an (H, W, C) image would need its batch axis
        guessed. Convert explicitly: `x.astype(np.float32)`,
        `x.astype(np.uint8)`, `x[np.newaxis]` for one image. Raises Error
        (status ERROR_ARGUMENT) otherwise.
        """
        # The common call first, checked with as little Python as it needs (at batch 1 the
        # binding's own work is a measurable share of a 0.1 ms model): a C-contiguous array of a
        # batch of the model's shape, float32 or uint8.
        if type(x) is np.ndarray and x.ndim == 4 and x.shape[1:] == self.input_shape and x.flags.c_contiguous:
            run = self._runs.get(x.dtype)
            batch = x.shape[0]
            if run is not None and batch > 0:
                out = np.empty((batch, self.output_size), dtype=np.float32)
                # The arrays go to C as their first byte (c_ubyte.from_buffer, which the
                # POINTER(c_ubyte) parameters pass by reference): about 0.3 us each, where
                # x.ctypes.data costs 1.3 us or more (predict on fashion_cnn: 1.6 to 2.3 us less a call).
                # A read-only array exports no writable buffer: its address is taken instead.
                try:
                    source = _Byte.from_buffer(x)
                except TypeError:
                    source = _Byte.from_address(x.ctypes.data)
                status = run(self._session(), source, x.size, batch, _Byte.from_buffer(out), out.size)
                if status != OK:
                    _check(self._lib, status)
                return out
        x = np.asarray(x)
        expected = f"(N, {', '.join(map(str, self.input_shape))})"
        if x.dtype == np.uint8:
            run = self._lib.cnnz_run_u8
        elif x.dtype == np.float32:
            run = self._lib.cnnz_run
        else:
            fix = "x.astype(np.uint8) for pixels" if np.issubdtype(x.dtype, np.integer) else "x.astype(np.float32)"
            raise Error(ERROR_ARGUMENT,
                        f"input dtype {x.dtype}: predict takes float32 (preprocessed) or uint8 (pixels); "
                        f"convert it with {fix}")
        if x.ndim == 3 and tuple(x.shape) == self.input_shape:
            raise Error(ERROR_ARGUMENT,
                        f"input shape {tuple(x.shape)} is one image; predict takes a batch {expected}: "
                        f"pass x[np.newaxis]")
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise Error(ERROR_ARGUMENT, f"input shape {tuple(x.shape)} does not match the model's {expected}")
        if x.shape[0] == 0:
            raise Error(ERROR_ARGUMENT, "the batch is empty")
        batch = x.shape[0]
        x = np.ascontiguousarray(x)
        out = np.empty((batch, self.output_size), dtype=np.float32)
        _check(self._lib, run(self._session(), x.ctypes.data, x.size, batch, out.ctypes.data, out.size))
        return out

    def predict_encoded(self, images, errors="raise"):
        """Decodes and runs encoded images in one engine call; returns (N, output_size) float32.

        `images` holds the bytes of PNG, JPEG or Netpbm files: a sequence of
        bytes-like objects (a list of `bytes`), or a pyarrow `binary` or
        `large_binary` array, whose bytes are read in place. Each image is
        decoded by the engine, converted to the model's channels, resized
        when its size differs (silently: `classify` warns) and preprocessed,
        exactly as `classify` does with a file of the same bytes, so the
        outputs equal `classify`'s scores to the bit. The images run in
        batches of `batch_capacity` through this thread's session, with the
        GIL released for the whole call.

        errors="raise" (the default): if an image cannot be read, raises
        Error with its index and the reason, in one line ("image 3: ...").
        errors="return": returns `(outputs, messages)` instead, where
        `messages[i]` is None, or why image i could not be run (its row of
        outputs is NaN; None and null images are reported too).
        """
        if errors not in ("raise", "return"):
            raise ValueError(f'errors must be "raise" or "return", got {errors!r}')
        packed = _encoded.pack(images)
        count = len(packed.offsets) - 1
        if count == 0:
            raise Error(ERROR_ARGUMENT, "no images: predict_encoded takes at least one")
        if packed.nulls and errors == "raise":
            raise Error(ERROR_ARGUMENT, f"image {packed.nulls[0]}: no bytes (None or null)")
        out = np.empty((count, self.output_size), dtype=np.float32)
        statuses = np.zeros(count, dtype=np.intc)
        status = self._lib.cnnz_classify_images(self._session(), packed.address, packed.size,
                                                packed.offsets.ctypes.data, count, out.ctypes.data, out.size,
                                                statuses.ctypes.data)
        if status != OK and (errors == "raise" or status == ERROR_ARGUMENT):
            _check(self._lib, status)
        if errors == "raise":
            return out
        messages = [None] * count
        scratch = np.empty(self.output_size, dtype=np.float32)
        for index in np.flatnonzero(statuses).tolist():  # rare: run alone again for the reason
            address, size = packed.image(index)
            self._lib.cnnz_classify_image(self._session(), address, size, scratch.ctypes.data, scratch.size)
            messages[index] = self._lib.cnnz_last_error().decode("utf-8", "replace")
        for index in packed.nulls:
            messages[index] = "no bytes (None or null)"
        return out, messages

    def classify(self, path, top=3):
        """Reads an image and returns the `top` classes as (label, probability) pairs, best first.

        As `infer`: the image is converted to the model's channel count,
        resized bilinearly when its size differs from the model's input (with
        a cnnz.ResizeWarning, the note `infer` prints), and preprocessed as
        the model says; top defaults to 3. Outputs that already look like
        probabilities (a softmax or sigmoid output, all in 0...1) are used as
        they are; others get a softmax.
        """
        if top < 1:
            raise Error(ERROR_ARGUMENT, f"top must be at least 1, got {top}")
        encoded = os.fsencode(path)
        width, height = ctypes.c_int32(), ctypes.c_int32()
        out = np.empty(self.output_size, dtype=np.float32)
        # The file is read once, here, and its bytes decoded by the engine for the size (the
        # warning) and the outputs: the same decoder and outputs as cnnz_classify_file.
        data = _read_image(encoded)
        if data:
            status = self._lib.cnnz_image_size_memory(data, len(data), ctypes.byref(width), ctypes.byref(height), None)
            if status != OK:  # named by the file, as cnnz_classify_file's messages are (but I/O's)
                message = self._lib.cnnz_last_error().decode("utf-8", "replace")
                if status != ERROR_IO:
                    message = f"{encoded.decode('utf-8', 'replace')}: {message}"
                raise Error(status, message)
            _check(self._lib, self._lib.cnnz_classify_image(self._session(), data, len(data), out.ctypes.data,
                                                            out.size))
        else:
            # Missing, unreadable or empty: the engine reads the path and says why in its own words.
            _check(self._lib, self._lib.cnnz_image_size(encoded, ctypes.byref(width), ctypes.byref(height), None))
            _check(self._lib, self._lib.cnnz_classify_file(self._session(), encoded, out.ctypes.data, out.size))
        model_height, model_width, _ = self.input_shape
        if (width.value, height.value) != (model_width, model_height):
            warnings.warn(f"{os.fsdecode(path)} is {width.value}x{height.value}, resized to {model_width}x{model_height}",
                          ResizeWarning, stacklevel=2)
        probabilities = out
        if out.min() < 0 or out.max() > 1:
            shifted = np.exp(out - out.max())
            probabilities = shifted / shifted.sum()
        order = sorted(range(self.output_size), key=lambda i: (-probabilities[i], i))[:top]
        return [(self.labels[i] if self.labels else f"class {i}", float(probabilities[i])) for i in order]

    def profile(self, x=None, runs=100):
        """Times each layer, as `infer --profile` does, and returns a cnnz.Profile.

        The profile is a list of cnnz.LayerTime(index, name, type, milliseconds,
        macs), one per layer in execution order, each the median over `runs`
        passes (after up to 10 warm-up passes) of one batch; print it for a
        table with each layer's share and GFLOP/s. It runs on this thread's
        session (the model's `threads`). `x` is a batch (N, H, W, C) of float32
        or uint8, N at most `batch_capacity`; only its shape matters (the
        values do not change the times), so the default, one image of zeros,
        times batch 1. Raises Error as predict does.
        """
        if x is None:
            x = np.zeros((1,) + self.input_shape, dtype=np.float32)
        x = np.asarray(x)
        if x.dtype not in (np.float32, np.uint8):
            raise Error(ERROR_ARGUMENT, f"input dtype {x.dtype}: profile takes float32 or uint8 images")
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape or x.shape[0] == 0:
            raise Error(ERROR_ARGUMENT, f"input shape {tuple(x.shape)} does not match the model's "
                                        f"(N, {', '.join(map(str, self.input_shape))}) with N at least 1")
        return _profile.profile(self, self._session(), np.ascontiguousarray(x, dtype=np.float32), runs, _check)

    def selftest(self):
        """Runs the model's stored self-test vector; returns the largest difference or raises Error."""
        difference = ctypes.c_float()
        _check(self._lib, self._lib.cnnz_model_selftest(self._pointer, ctypes.byref(difference)))
        return difference.value

    def close(self):
        """Frees the model and every session it made. Further calls raise Error."""
        with self._sessions_lock:
            for session in self._sessions:
                self._lib.cnnz_session_free(session)
            self._sessions = []
        self._local = threading.local()
        if self._pointer:
            self._lib.cnnz_model_free(self._pointer)
            self._pointer = _lib.ModelPointer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_pointer", None):
            self.close()

    def __repr__(self):
        return f"cnnz.Model(name={self.name!r}, input_shape={self.input_shape}, output_size={self.output_size})"
