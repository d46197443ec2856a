/* Internal to libcnnz: not part of the public C API, no stable interface. */
#ifndef CNNZ_INTERNAL_H
#define CNNZ_INTERNAL_H

/* Records `message` as this thread's last error (copied, truncated to 1023 bytes). */
void cnnz_internal_set_last_error(const char *message);

#endif
