/* darwin-shim: a Linux-only header; macOS has none. */
#error "<sys/epoll.h> does not exist on macOS: include it under #ifdef __linux__"
