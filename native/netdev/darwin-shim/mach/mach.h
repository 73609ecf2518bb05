/* darwin-shim: the Mach types libuv's uv/darwin.h names. */
#pragma once
#include <mach/kern_return.h>
typedef unsigned int mach_port_t;
typedef mach_port_t task_t;
typedef mach_port_t semaphore_t;
