/* darwin-shim: glibc's <sys/socket.h> without what Darwin lacks, plus SO_NOSIGPIPE. */
#pragma once
#include_next <sys/socket.h>
#define SO_NOSIGPIPE 0x1022
#pragma GCC poison SOCK_CLOEXEC SOCK_NONBLOCK MSG_NOSIGNAL MSG_CMSG_CLOEXEC accept4 recvmmsg sendmmsg SO_PEERCRED
