/* Guest side of `npm run bench -- --only net`: one TCP connection to the host, then either
 * sends BYTES (guest -> host) or reads until the host closes (host -> guest), with 64 KiB
 * reads and writes, so busybox nc's small buffers do not set the pace.
 *
 *   tcpblast send|recv IPV4 PORT BYTES
 *
 * Prints "tcpblast <send|recv> bytes=<n> usec=<n>" (timed from connect to the last byte). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536

static uint64_t now_usec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *what) {
  fprintf(stderr, "tcpblast: %s: %s\n", what, strerror(errno));
  exit(2);
}

int main(int argc, char **argv) {
  if (argc != 5 || (strcmp(argv[1], "send") && strcmp(argv[1], "recv"))) {
    fprintf(stderr, "usage: tcpblast send|recv IPV4 PORT BYTES\n");
    return 1;
  }
  int sending = strcmp(argv[1], "send") == 0;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)atoi(argv[3]));
  if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1) { fprintf(stderr, "tcpblast: bad address\n"); return 1; }
  uint64_t want = strtoull(argv[4], NULL, 0);
  static char buf[CHUNK];
  memset(buf, 0x5a, sizeof buf);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  uint64_t t0 = now_usec();
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) die("connect");
  uint64_t done = 0;
  if (sending) {
    while (done < want) {
      size_t n = want - done < CHUNK ? (size_t)(want - done) : CHUNK;
      ssize_t w = write(fd, buf, n);
      if (w < 0) { if (errno == EINTR) continue; die("write"); }
      done += (uint64_t)w;
    }
    shutdown(fd, SHUT_WR);
    /* The host closes once it has every byte: that is the end of the transfer. */
    while (read(fd, buf, sizeof buf) > 0) {}
  } else {
    for (;;) {
      ssize_t r = read(fd, buf, sizeof buf);
      if (r < 0) { if (errno == EINTR) continue; die("read"); }
      if (r == 0) break;
      done += (uint64_t)r;
    }
  }
  printf("tcpblast %s bytes=%llu usec=%llu\n", argv[1], (unsigned long long)done, (unsigned long long)(now_usec() - t0));
  close(fd);
  return done == want ? 0 : 3;
}
