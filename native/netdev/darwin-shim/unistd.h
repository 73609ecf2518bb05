/* darwin-shim: glibc's <unistd.h> without the calls Darwin lacks. */
#pragma once
#include_next <unistd.h>
#pragma GCC poison pipe2 dup3
