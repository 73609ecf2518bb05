/* darwin-shim: see mach/mach.h. */
#pragma once
#include <mach/mach.h>
