"""ctypes declarations of include/cnnz.h. Each prototype is quoted above its binding."""
import ctypes
import ctypes.util
import os
import pathlib

_HERE = pathlib.Path(__file__).resolve().parent
_REPOSITORY = _HERE.parent.parent.parent

BUILD_HINT = (
    "build it with `swift build -c release --product cnnz` in the cnnz repository, "
    "then set CNNZ_LIBRARY=/path/to/cnnz/.build/release/libcnnz.so"
)


class LibraryNotFound(OSError):
    """libcnnz could not be found or loaded."""


class _Model(ctypes.Structure):
    pass


class _Session(ctypes.Structure):
    pass


class LoadOptions(ctypes.Structure):
    """typedef struct cnnz_load_options { size_t struct_size; size_t max_memory;
    uint64_t max_operations_per_image; } cnnz_load_options;"""

    _fields_ = [("struct_size", ctypes.c_size_t), ("max_memory", ctypes.c_size_t),
                ("max_operations_per_image", ctypes.c_uint64)]


ModelPointer = ctypes.POINTER(_Model)
SessionPointer = ctypes.POINTER(_Session)


def _candidates():
    explicit = os.environ.get("CNNZ_LIBRARY")
    if explicit:
        yield explicit
        return
    yield str(_HERE / "libcnnz.so")  # bundled by `pip install` when it was built first
    for configuration in ("release", "debug"):
        yield str(_REPOSITORY / ".build" / configuration / "libcnnz.so")
    found = ctypes.util.find_library("cnnz")
    if found:
        yield found


def load():
    """Finds and loads libcnnz, declaring every function's types."""
    tried = []
    for path in _candidates():
        if not os.path.exists(path) and os.sep in path:
            tried.append(path)
            continue
        try:
            lib = ctypes.CDLL(path)  # CDLL releases the GIL during every call
        except OSError as error:
            raise LibraryNotFound(f"cannot load {path}: {error}; {BUILD_HINT}") from error
        _declare(lib)
        return lib
    raise LibraryNotFound(f"libcnnz not found (looked at {', '.join(tried) or 'nothing'}); {BUILD_HINT}")


def _declare(lib):
    c_status = ctypes.c_int
    f32p = ctypes.POINTER(ctypes.c_float)
    # const char *cnnz_version(void);
    lib.cnnz_version.argtypes = []
    lib.cnnz_version.restype = ctypes.c_char_p
    # const char *cnnz_status_string(cnnz_status status);
    lib.cnnz_status_string.argtypes = [c_status]
    lib.cnnz_status_string.restype = ctypes.c_char_p
    # const char *cnnz_last_error(void);
    lib.cnnz_last_error.argtypes = []
    lib.cnnz_last_error.restype = ctypes.c_char_p
    # cnnz_status cnnz_model_load(const char *path, cnnz_model **out_model);
    lib.cnnz_model_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(ModelPointer)]
    lib.cnnz_model_load.restype = c_status
    # cnnz_status cnnz_model_load_memory(const void *data, size_t size, cnnz_model **out_model);
    lib.cnnz_model_load_memory.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ModelPointer)]
    lib.cnnz_model_load_memory.restype = c_status
    # cnnz_status cnnz_model_load_with(const char *path, const cnnz_load_options *options, cnnz_model **out_model);
    lib.cnnz_model_load_with.argtypes = [ctypes.c_char_p, ctypes.POINTER(LoadOptions), ctypes.POINTER(ModelPointer)]
    lib.cnnz_model_load_with.restype = c_status
    # cnnz_status cnnz_model_load_memory_with(const void *data, size_t size, const cnnz_load_options *options,
    #                                         cnnz_model **out_model);
    lib.cnnz_model_load_memory_with.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(LoadOptions),
                                                ctypes.POINTER(ModelPointer)]
    lib.cnnz_model_load_memory_with.restype = c_status
    # void cnnz_model_free(cnnz_model *model);
    lib.cnnz_model_free.argtypes = [ModelPointer]
    lib.cnnz_model_free.restype = None
    # cnnz_status cnnz_model_input_shape(const cnnz_model *model, int32_t *height, int32_t *width, int32_t *channels);
    i32p = ctypes.POINTER(ctypes.c_int32)
    lib.cnnz_model_input_shape.argtypes = [ModelPointer, i32p, i32p, i32p]
    lib.cnnz_model_input_shape.restype = c_status
    # size_t cnnz_model_output_size(const cnnz_model *model);
    lib.cnnz_model_output_size.argtypes = [ModelPointer]
    lib.cnnz_model_output_size.restype = ctypes.c_size_t
    # const char *cnnz_model_label(const cnnz_model *model, size_t index);
    lib.cnnz_model_label.argtypes = [ModelPointer, ctypes.c_size_t]
    lib.cnnz_model_label.restype = ctypes.c_char_p
    # const char *cnnz_model_name(const cnnz_model *model);
    lib.cnnz_model_name.argtypes = [ModelPointer]
    lib.cnnz_model_name.restype = ctypes.c_char_p
    # const char *cnnz_model_precision(const cnnz_model *model);
    lib.cnnz_model_precision.argtypes = [ModelPointer]
    lib.cnnz_model_precision.restype = ctypes.c_char_p
    # size_t cnnz_model_layer_count(const cnnz_model *model);
    lib.cnnz_model_layer_count.argtypes = [ModelPointer]
    lib.cnnz_model_layer_count.restype = ctypes.c_size_t
    # cnnz_status cnnz_model_layer(const cnnz_model *model, size_t index, const char **name, const char **type,
    #                              uint64_t *macs);
    lib.cnnz_model_layer.argtypes = [ModelPointer, ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p),
                                     ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_uint64)]
    lib.cnnz_model_layer.restype = c_status
    # cnnz_status cnnz_session_profile(cnnz_session *session, const float *input, size_t input_count, size_t batch,
    #                                  size_t runs, double *layer_milliseconds, size_t layer_capacity);
    lib.cnnz_session_profile.argtypes = [SessionPointer, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t,
                                         ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]
    lib.cnnz_session_profile.restype = c_status
    # cnnz_status cnnz_model_selftest(const cnnz_model *model, float *max_difference);
    lib.cnnz_model_selftest.argtypes = [ModelPointer, f32p]
    lib.cnnz_model_selftest.restype = c_status
    # cnnz_status cnnz_session_create_with(const cnnz_model *model, size_t batch_capacity, size_t threads,
    #                                      cnnz_session **out_session);
    lib.cnnz_session_create_with.argtypes = [ModelPointer, ctypes.c_size_t, ctypes.c_size_t,
                                             ctypes.POINTER(SessionPointer)]
    lib.cnnz_session_create_with.restype = c_status
    # size_t cnnz_session_thread_count(const cnnz_session *session);
    lib.cnnz_session_thread_count.argtypes = [SessionPointer]
    lib.cnnz_session_thread_count.restype = ctypes.c_size_t
    # void cnnz_session_free(cnnz_session *session);
    lib.cnnz_session_free.argtypes = [SessionPointer]
    lib.cnnz_session_free.restype = None
    # cnnz_status cnnz_run(cnnz_session *session, const float *input, size_t input_count, size_t batch,
    #                      float *output, size_t output_capacity);
    lib.cnnz_run.argtypes = [SessionPointer, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p,
                             ctypes.c_size_t]
    lib.cnnz_run.restype = c_status
    # cnnz_status cnnz_run_u8(cnnz_session *session, const uint8_t *pixels, size_t pixel_count, size_t batch,
    #                         float *output, size_t output_capacity);
    lib.cnnz_run_u8.argtypes = [SessionPointer, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p,
                                ctypes.c_size_t]
    lib.cnnz_run_u8.restype = c_status
    # The same two functions as separate objects whose data parameters are POINTER(c_ubyte), for
    # Model.predict: it passes c_ubyte.from_buffer(array), which ctypes converts by reference
    # faster than NumPy computes array.ctypes.data (lib["name"] is a new function object, so the
    # declarations above, which take addresses as integers, are unchanged).
    bytep = ctypes.POINTER(ctypes.c_ubyte)
    for name in ("cnnz_run", "cnnz_run_u8"):
        function = lib[name]
        function.argtypes = [SessionPointer, bytep, ctypes.c_size_t, ctypes.c_size_t, bytep, ctypes.c_size_t]
        function.restype = c_status
        setattr(lib, name + "_buffers", function)
    # cnnz_status cnnz_classify_file(cnnz_session *session, const char *image_path, float *output, size_t output_capacity);
    lib.cnnz_classify_file.argtypes = [SessionPointer, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
    lib.cnnz_classify_file.restype = c_status
    # cnnz_status cnnz_image_size(const char *image_path, int32_t *width, int32_t *height, int32_t *channels);
    lib.cnnz_image_size.argtypes = [ctypes.c_char_p, i32p, i32p, i32p]
    lib.cnnz_image_size.restype = c_status
    # cnnz_status cnnz_image_size_memory(const void *data, size_t size, int32_t *width, int32_t *height,
    #                                    int32_t *channels);
    lib.cnnz_image_size_memory.argtypes = [ctypes.c_void_p, ctypes.c_size_t, i32p, i32p, i32p]
    lib.cnnz_image_size_memory.restype = c_status
    # cnnz_status cnnz_classify_image(cnnz_session *session, const void *data, size_t size, float *output,
    #                                 size_t output_capacity);
    lib.cnnz_classify_image.argtypes = [SessionPointer, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                                        ctypes.c_size_t]
    lib.cnnz_classify_image.restype = c_status
    # cnnz_status cnnz_classify_images(cnnz_session *session, const void *data, size_t data_size,
    #                                  const size_t *offsets, size_t count, float *output, size_t output_capacity,
    #                                  cnnz_status *statuses);
    lib.cnnz_classify_images.argtypes = [SessionPointer, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                                         ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    lib.cnnz_classify_images.restype = c_status
