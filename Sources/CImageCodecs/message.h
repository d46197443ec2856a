// Shared by the PNG and JPEG shims: error messages that are one printable line.
#ifndef CIMAGECODECS_MESSAGE_H
#define CIMAGECODECS_MESSAGE_H
#include <stdio.h>

#include "CImageCodecs.h"

/// Writes "`prefix`: `text`" into `info->message`, with control characters
/// (which a library message could carry from a file) replaced by '?'.
static inline void cimg_set_message(cimg_info *info, const char *prefix, const char *text) {
  size_t i;
  snprintf(info->message, sizeof info->message, "%s: %s", prefix, text);
  for (i = 0; info->message[i] != '\0'; i++) {
    unsigned char c = (unsigned char)info->message[i];
    if (c < 0x20 || c == 0x7f) info->message[i] = '?';
  }
}
#endif
