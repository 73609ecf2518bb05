/* darwin-shim: glibc's <fcntl.h> without the flags Darwin lacks. */
#pragma once
#include_next <fcntl.h>
#pragma GCC poison O_PATH O_TMPFILE
