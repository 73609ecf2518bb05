/* darwin-shim: a Linux-only header; macOS has none. */
#error "<linux/if.h> does not exist on macOS: include it under #ifdef __linux__"
