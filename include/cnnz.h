/*
 * cnnz.h — the C interface of cnnz, an embeddable CNN inference engine.
 *
 * Link with libcnnz (`swift build -c release --product cnnz` builds
 * .build/release/libcnnz.so). Plain C99; usable from C++.
 *
 * Objects. A cnnz_model is a loaded, validated model. It is immutable: any
 * number of threads may use one model at once. A cnnz_session holds the
 * working memory for running a model (and, if asked, helper threads that
 * share each layer's work); it belongs to one calling thread at a time
 * (a session used by two threads at once returns CNNZ_ERROR_ARGUMENT in
 * one of them). All of a session's memory is allocated by
 * cnnz_session_create*; cnnz_run and cnnz_run_u8 allocate nothing.
 *
 * Memory. Loading refuses, with CNNZ_ERROR_MEMORY, a model that needs more
 * than its memory budget (1 GiB unless cnnz_model_load_with sets another):
 * the budget covers the inflated file and decoded weights while loading,
 * then the weights, their prepared copies and one session of batch 1; every
 * session must fit the budget beside the model. Running out of memory is
 * CNNZ_ERROR_MEMORY too, never an abort.
 *
 * Errors. Every function that can fail returns a cnnz_status; the values it
 * produces come back through out_ parameters, which are written only on
 * success. After a failure, cnnz_last_error() describes it in one line.
 * No argument, however wrong, crashes the process: NULL pointers, short
 * buffers, batch 0, a pointer that was freed (when it can be detected),
 * hostile model or image files all give an error.
 *
 * Layout. Inputs are NHWC float32 (batch x height x width x channels),
 * outputs batch x output_size float32, both densely packed.
 */
#ifndef CNNZ_H
#define CNNZ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CNNZ_VERSION_MAJOR 0
#define CNNZ_VERSION_MINOR 3
#define CNNZ_VERSION_PATCH 0

/** The outcome of a call. */
typedef enum cnnz_status {
  CNNZ_OK = 0,
  CNNZ_ERROR_ARGUMENT = 1,    /* NULL pointer, size too small, index out of range */
  CNNZ_ERROR_IO = 2,          /* a file could not be opened or read */
  CNNZ_ERROR_FORMAT = 3,      /* bytes that are not a valid model or image */
  CNNZ_ERROR_UNSUPPORTED = 4, /* valid, but needs a feature this build lacks */
  CNNZ_ERROR_MEMORY = 5,      /* above the memory budget or a documented cap, or out of memory */
  CNNZ_ERROR_INTERNAL = 6     /* the engine failed; also a failed self-test */
} cnnz_status;

/** A loaded model. Opaque; create with cnnz_model_load*, free with cnnz_model_free. */
typedef struct cnnz_model cnnz_model;

/** One thread's working memory for a model. Opaque; see cnnz_session_create. */
typedef struct cnnz_session cnnz_session;

/**
 * The library's version, "MAJOR.MINOR.PATCH".
 * Returns a static string (never NULL, never freed). Thread-safe.
 */
const char *cnnz_version(void);

/**
 * A short English name for a status ("CNNZ_OK: success", ...).
 * Returns a static string; an unknown value gives "unknown status". Thread-safe.
 */
const char *cnnz_status_string(cnnz_status status);

/**
 * What went wrong in this thread's most recent failed call, as one line
 * (for example "TENS: tensor 3 dimension 0 at payload offset 1212: ...").
 * An empty string if no call has failed in this thread. The string belongs
 * to the library and stays valid until this thread's next failing call.
 * Thread-safe: each thread has its own message.
 */
const char *cnnz_last_error(void);

/** The memory budget used when none is given: 1 GiB. */
#define CNNZ_DEFAULT_MAX_MEMORY ((size_t)1 << 30)

/** The operation cap used when none is given: 2^37 per image. */
#define CNNZ_DEFAULT_MAX_OPERATIONS ((uint64_t)1 << 37)

/**
 * What a model may cost, for cnnz_model_load_with and
 * cnnz_model_load_memory_with. Initialize with CNNZ_LOAD_OPTIONS_INIT, then
 * set the fields you need: later versions may append fields, and the library
 * reads only the first struct_size bytes (fields past them keep their defaults).
 */
typedef struct cnnz_load_options {
  /** sizeof(cnnz_load_options) as the caller compiled it. */
  size_t struct_size;
  /**
   * The most bytes the model may hold at once, 0 for CNNZ_DEFAULT_MAX_MEMORY:
   * while loading, the inflated payload and the decoded weights; once loaded,
   * the weights, their prepared copies, labels and one session of batch 1 on
   * one thread. Each session must fit beside the model as well.
   */
  size_t max_memory;
  /**
   * The most operations one image may take (multiply-adds of convolutions and
   * dense layers, elements read by pooling windows, one per output element of
   * other layers), 0 for CNNZ_DEFAULT_MAX_OPERATIONS: bounds the time a
   * hostile model can cost.
   */
  uint64_t max_operations_per_image;
} cnnz_load_options;

/** Default options: `cnnz_load_options options = CNNZ_LOAD_OPTIONS_INIT;` */
#define CNNZ_LOAD_OPTIONS_INIT {sizeof(cnnz_load_options), 0, 0}

/**
 * Loads and validates a .cnnz model file, within the default memory budget
 * (cnnz_model_load_with with NULL options).
 *   path       NUL-terminated file name; not kept.
 *   out_model  receives the model; the caller owns it and frees it with
 *              cnnz_model_free.
 * The file may come from anyone: every field is checked before use.
 * Thread-safe.
 * @retval CNNZ_OK
 * @retval CNNZ_ERROR_ARGUMENT     path or out_model is NULL
 * @retval CNNZ_ERROR_IO           the file cannot be opened or read, or is a directory
 * @retval CNNZ_ERROR_FORMAT       the bytes are not a valid model (truncated, corrupt, crafted)
 * @retval CNNZ_ERROR_UNSUPPORTED  a newer format version, or a feature this build lacks
 * @retval CNNZ_ERROR_MEMORY       the model needs more than the memory budget or
 *                                 the documented caps, or memory ran out
 */
cnnz_status cnnz_model_load(const char *path, cnnz_model **out_model);

/**
 * Loads and validates a .cnnz model file within the limits of `options`.
 *   options    NULL for the defaults; read during the call only.
 * The message of CNNZ_ERROR_MEMORY states what the model needs and the budget.
 * Thread-safe.
 * @retval CNNZ_OK
 * @retval CNNZ_ERROR_ARGUMENT     path or out_model is NULL, or options->struct_size
 *                                 is smaller than sizeof(size_t) or above 4096
 * @retval CNNZ_ERROR_IO, CNNZ_ERROR_FORMAT, CNNZ_ERROR_UNSUPPORTED, CNNZ_ERROR_MEMORY
 *                                 as for cnnz_model_load
 */
cnnz_status cnnz_model_load_with(const char *path, const cnnz_load_options *options, cnnz_model **out_model);

/**
 * Loads and validates a model from bytes in memory.
 *   data, size  the .cnnz bytes; any alignment. The library copies what it
 *               needs: the caller may free data as soon as this returns.
 *   out_model   as for cnnz_model_load.
 * Thread-safe.
 * @retval CNNZ_OK
 * @retval CNNZ_ERROR_ARGUMENT     data is NULL with size > 0, or out_model is NULL
 * @retval CNNZ_ERROR_FORMAT, CNNZ_ERROR_UNSUPPORTED, CNNZ_ERROR_MEMORY  as for cnnz_model_load
 */
cnnz_status cnnz_model_load_memory(const void *data, size_t size, cnnz_model **out_model);

/**
 * Loads and validates a model from bytes in memory within the limits of
 * `options` (NULL for the defaults). Otherwise as cnnz_model_load_memory.
 * @retval CNNZ_ERROR_ARGUMENT     also: options->struct_size out of range, as for cnnz_model_load_with
 */
cnnz_status cnnz_model_load_memory_with(const void *data, size_t size, const cnnz_load_options *options,
                                        cnnz_model **out_model);

/**
 * Frees a model. NULL is a no-op; a pointer that is not a live model is
 * ignored (and reported by cnnz_last_error). Sessions created from the model
 * keep working after it is freed. Do not free a model while another thread
 * is in a call that uses it.
 */
void cnnz_model_free(cnnz_model *model);

/**
 * The shape of one input image: height, width and channels.
 * Each out pointer may be NULL to skip that value. Thread-safe.
 * @retval CNNZ_OK
 * @retval CNNZ_ERROR_ARGUMENT  model is NULL or not a live model
 */
cnnz_status cnnz_model_input_shape(const cnnz_model *model, int32_t *height, int32_t *width, int32_t *channels);

/**
 * The number of floats one image produces. 0 if model is NULL or not a live
 * model (cnnz_last_error says which). Thread-safe.
 */
size_t cnnz_model_output_size(const cnnz_model *model);

/**
 * The label of output `index`, as NUL-terminated UTF-8 owned by the model
 * (valid until cnnz_model_free). NULL when the model has no labels, when
 * index >= cnnz_model_output_size, or when model is not a live model.
 * Thread-safe.
 */
const char *cnnz_model_label(const cnnz_model *model, size_t index);

/**
 * The model's name (possibly empty), owned by the model. NULL if model is not
 * a live model. Thread-safe.
 */
const char *cnnz_model_name(const cnnz_model *model);

/**
 * What the model computes in: "float32", "int8" (int8 weights and activations,
 * integer kernels) or "weights-int8" (int8 weights in the file, float32
 * compute), as a static NUL-terminated string (never freed). Inputs and
 * outputs are floats (or uint8 pixels) whatever the precision. NULL if model
 * is not a live model (cnnz_last_error says so). Thread-safe.
 */
const char *cnnz_model_precision(const cnnz_model *model);

/**
 * The number of layers the model runs, in execution order after the
 * converter's folding (what `infer --profile` lists and cnnz_session_profile
 * times). 0 if model is not a live model. Thread-safe.
 */
size_t cnnz_model_layer_count(const cnnz_model *model);

/**
 * Describes layer `index` (0 ... cnnz_model_layer_count - 1, execution order).
 * Each out pointer may be NULL to skip that value.
 *   name  receives the layer's name (possibly empty), NUL-terminated UTF-8
 *         owned by the model (valid until cnnz_model_free)
 *   type  receives its Keras class name ("Conv2D", "DepthwiseConv2D",
 *         "Dense", "MaxPooling2D", "Add", ...), owned by the model
 *   macs  receives its multiply-adds for one image (0 for pooling, Add and
 *         other layers without multiply-adds)
 * Thread-safe.
 * @retval CNNZ_OK
 * @retval CNNZ_ERROR_ARGUMENT  model is not a live model, or index is out of range
 */
cnnz_status cnnz_model_layer(const cnnz_model *model, size_t index, const char **name, const char **type,
                             uint64_t *macs);

/**
 * Runs the self-test vector stored in the model and compares the output
 * with the stored one, to check that this machine and this version of the
 * engine reproduce what the converter computed.
 *   max_difference  may be NULL; receives the largest absolute difference.
 * Allocates a temporary session. Thread-safe.
 * @retval CNNZ_OK                 every output is within the stored tolerance
 * @retval CNNZ_ERROR_INTERNAL     an output differs by more than the tolerance
 *                                 (cnnz_last_error names it and the difference)
 * @retval CNNZ_ERROR_UNSUPPORTED  the model holds no self-test vector
 * @retval CNNZ_ERROR_ARGUMENT     model is NULL or not a live model
 */
cnnz_status cnnz_model_selftest(const cnnz_model *model, float *max_difference);

/**
 * Creates a session that runs one image per pass (larger batches are split)
 * on the calling thread only: the smallest footprint. Same as
 * cnnz_session_create_with(model, 1, 1, out_session).
 */
cnnz_status cnnz_session_create(const cnnz_model *model, cnnz_session **out_session);

/**
 * Creates a session that runs up to `batch_capacity` images per pass and
 * splits each layer's work over `threads` threads: the caller of cnnz_run and
 * `threads - 1` helper threads that the session starts now and stops in
 * cnnz_session_free (helpers wait on a condition variable between runs).
 * Small layers run on the caller alone. Outputs do not depend on `threads`.
 *   out_session  receives the session; the caller owns it and frees it with
 *                cnnz_session_free. It keeps what it needs of the model.
 * All the session's memory (activations for batch_capacity images, scratch
 * for each thread) and threads are created here; running allocates nothing.
 * Thread-safe.
 * @retval CNNZ_OK
 * @retval CNNZ_ERROR_ARGUMENT  model or out_session is NULL, model is not a
 *                              live model, batch_capacity is 0 or above
 *                              65536, or threads is 0 or above 64
 * @retval CNNZ_ERROR_MEMORY    the session, beside the model, would exceed the
 *                              model's memory budget (or 4 GiB), or memory ran out
 */
cnnz_status cnnz_session_create_with(const cnnz_model *model, size_t batch_capacity, size_t threads,
                                     cnnz_session **out_session);

/**
 * The number of threads the session runs layers on, the caller included
 * (fewer than requested if the system refused to start some). 0 if session
 * is not a live session. Thread-safe.
 */
size_t cnnz_session_thread_count(const cnnz_session *session);

/** Frees a session and stops its helper threads. NULL is a no-op; a pointer that is not a live session is ignored. */
void cnnz_session_free(cnnz_session *session);

/**
 * Runs `batch` images of prepared floats.
 *   input            batch x H x W x C floats, preprocessed; read only.
 *   input_count      the number of floats input holds (more than needed is fine).
 *   output           receives batch x output_size floats.
 *   output_capacity  the number of floats output can hold.
 * Allocates nothing. Not thread-safe on one session; use one per thread.
 * @retval CNNZ_OK
 * @retval CNNZ_ERROR_ARGUMENT  a NULL pointer, batch 0, input_count below
 *                              batch * H * W * C, output_capacity below
 *                              batch * output_size, a session that is not live
 *                              or is in use by another thread
 */
cnnz_status cnnz_run(cnnz_session *session, const float *input, size_t input_count, size_t batch, float *output,
                     size_t output_capacity);

/**
 * Times each layer, as `infer --profile` does: runs `batch` images of
 * prepared floats min(runs, 10) times to warm up, then `runs` times, kernel by
 * kernel with a clock read between kernels, and writes to
 * layer_milliseconds[i] the median over the timed runs of layer i's
 * milliseconds (execution order, as cnnz_model_layer). A layer that runs no
 * kernel of its own gets 0: a Flatten (it only renames its input) and a
 * residual Add that the convolution computing one of its operands does in its
 * store (its time is that convolution's). The input's values do not change
 * the times, only its shape: any batch that cnnz_run accepts will do.
 * Outputs are computed and discarded.
 *   input                as for cnnz_run; batch at most the session's batch
 *                        capacity (one pass is timed, not a split batch)
 *   runs                 timed runs, 1 ... 1,000,000, and runs x kernels at
 *                        most 4,194,304 (the times of every run are kept; the
 *                        kernels are the layers, less Flatten, plus an int8
 *                        model's conversions)
 *   layer_milliseconds   receives cnnz_model_layer_count values
 *   layer_capacity       the number of doubles layer_milliseconds can hold
 * Allocates the table of times (16 bytes per run and kernel) before the first
 * run. Not thread-safe on one session.
 * @retval CNNZ_OK
 * @retval CNNZ_ERROR_ARGUMENT  as for cnnz_run; or batch above the batch
 *                              capacity, runs out of range, or
 *                              layer_capacity below the layer count
 * @retval CNNZ_ERROR_MEMORY    memory for the table of times ran out
 */
cnnz_status cnnz_session_profile(cnnz_session *session, const float *input, size_t input_count, size_t batch,
                                 size_t runs, double *layer_milliseconds, size_t layer_capacity);

/**
 * Runs `batch` images of 8-bit pixels (batch x H x W x C bytes, 0..255),
 * applying the model's preprocessing.
 *   pixel_count  the number of bytes pixels holds (at least batch * H * W * C).
 * Otherwise as cnnz_run.
 */
cnnz_status cnnz_run_u8(cnnz_session *session, const uint8_t *pixels, size_t pixel_count, size_t batch, float *output,
                        size_t output_capacity);

/**
 * Reads a PNG (any bit depth and colour type, interlaced too), JPEG (baseline
 * or progressive, gray or colour) or Netpbm image (P2, P3, P5, P6; maxval up
 * to 65535), telling the format from the file's first bytes; drops alpha
 * (colours as stored, not composited); converts its channels to the model's
 * (RGB to gray: BT.601 luma), resizes it bilinearly if its size differs,
 * applies the model's preprocessing and runs it.
 *   image_path       NUL-terminated file name.
 *   output           receives output_size floats; output_capacity is its size.
 * Allocates while decoding the image. Not thread-safe on one session.
 * @retval CNNZ_OK
 * @retval CNNZ_ERROR_ARGUMENT  as for cnnz_run, or image_path is NULL
 * @retval CNNZ_ERROR_IO        the image cannot be opened or read
 * @retval CNNZ_ERROR_FORMAT    not a valid image of those formats (the message says why)
 * @retval CNNZ_ERROR_UNSUPPORTED  a CMYK, 12-bit or lossless JPEG
 * @retval CNNZ_ERROR_MEMORY    the image exceeds the size cap (2^26 pixels, 65,536 a side)
 */
cnnz_status cnnz_classify_file(cnnz_session *session, const char *image_path, float *output, size_t output_capacity);

/**
 * Reads an image as cnnz_classify_file does and reports its size, so that a
 * caller can say when classifying it will resize it (infer prints a note).
 *   image_path               NUL-terminated file name.
 *   width, height, channels  receive the image's size and its channel count
 *                            (1 gray, 3 RGB); each may be NULL.
 * Allocates while decoding the image. Thread-safe.
 * @retval CNNZ_OK
 * @retval CNNZ_ERROR_ARGUMENT  image_path is NULL
 * @retval CNNZ_ERROR_IO, CNNZ_ERROR_FORMAT, CNNZ_ERROR_MEMORY  as for cnnz_classify_file
 */
cnnz_status cnnz_image_size(const char *image_path, int32_t *width, int32_t *height, int32_t *channels);

/**
 * cnnz_image_size for an image held in memory (the bytes of a PNG, JPEG or
 * Netpbm file), decoded as cnnz_classify_image decodes it: a caller that
 * reads a file once can both classify it and say when it will be resized.
 *   data, size               the encoded image; read during the call only.
 *                            data may be NULL only if size is 0.
 *   width, height, channels  as for cnnz_image_size; each may be NULL.
 * Allocates while decoding the image. Thread-safe.
 * @retval CNNZ_OK
 * @retval CNNZ_ERROR_ARGUMENT  data is NULL with size > 0
 * @retval CNNZ_ERROR_FORMAT, CNNZ_ERROR_UNSUPPORTED, CNNZ_ERROR_MEMORY
 *                              as for cnnz_classify_image
 */
cnnz_status cnnz_image_size_memory(const void *data, size_t size, int32_t *width, int32_t *height,
                                   int32_t *channels);

/**
 * Decodes an image held in memory (the bytes of a PNG, JPEG or Netpbm file)
 * and runs it, exactly as cnnz_classify_file runs the same bytes from a file:
 * the same decoder, channel conversion, bilinear resize and preprocessing,
 * so the outputs are equal to the bit.
 *   data, size       the encoded image; read during the call only, any alignment.
 *                    data may be NULL only if size is 0.
 *   output           receives output_size floats; output_capacity is its size.
 * Allocates while decoding the image. Not thread-safe on one session.
 * @retval CNNZ_OK
 * @retval CNNZ_ERROR_ARGUMENT  as for cnnz_run, or data is NULL with size > 0
 * @retval CNNZ_ERROR_FORMAT    not a valid image of those formats, or size is 0
 *                              (the message says why, in one line)
 * @retval CNNZ_ERROR_UNSUPPORTED, CNNZ_ERROR_MEMORY  as for cnnz_classify_file
 */
cnnz_status cnnz_classify_image(cnnz_session *session, const void *data, size_t size, float *output,
                                size_t output_capacity);

/**
 * Decodes and runs `count` encoded images held back to back in one buffer
 * (the layout of an Apache Arrow binary column): image i is the bytes
 * data[offsets[i]] up to data[offsets[i + 1]]. Each image is read as
 * cnnz_classify_image reads it, and the images are run through the session
 * in batches of its batch capacity; the outputs equal cnnz_classify_image's,
 * to the bit. An image that cannot be read does not stop the others: its
 * row of output is NaN and its status says why.
 *   data, data_size  the images' bytes; data may be NULL only if data_size is 0.
 *   offsets          count + 1 byte offsets into data, non-decreasing, the
 *                    last at most data_size (offsets[0] need not be 0).
 *   output           receives count x output_size floats, row i for image i;
 *                    output_capacity is the number of floats it holds.
 *   statuses         NULL, or count statuses that receive each image's
 *                    outcome (CNNZ_OK, or the error it would have given alone).
 * Allocates what decoding and preparing each image needs, one image at a
 * time; the first call on a session also allocates a pass of outputs
 * (batch capacity x output_size floats), which the session keeps: later
 * calls allocate nothing else. Not thread-safe on one session.
 * The arguments are all checked before any image is decoded.
 * @retval CNNZ_OK              every image ran
 * @retval CNNZ_ERROR_ARGUMENT  a NULL pointer, count 0, offsets that decrease
 *                              or pass data_size, output_capacity below
 *                              count * output_size, a session that is not live
 *                              or is in use by another thread (nothing is written)
 * @retval CNNZ_ERROR_FORMAT, CNNZ_ERROR_UNSUPPORTED, CNNZ_ERROR_MEMORY
 *                              the first image that failed, failed so; the other
 *                              images still ran. cnnz_last_error gives that
 *                              image's index and reason ("image 3: ..."); call
 *                              cnnz_classify_image on another failed image for its reason.
 */
cnnz_status cnnz_classify_images(cnnz_session *session, const void *data, size_t data_size, const size_t *offsets,
                                 size_t count, float *output, size_t output_capacity, cnnz_status *statuses);

#ifdef __cplusplus
}
#endif

#endif /* CNNZ_H */
