/* darwin-shim: Darwin's sockaddr_un (sun_len first, sun_path[104]) instead of glibc's. */
#pragma once
#include <sys/socket.h>
struct sockaddr_un {
  unsigned char sun_len;
  sa_family_t sun_family;
  char sun_path[104];
};
