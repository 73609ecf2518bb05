/* Guest side of `npm run bench -- --only blk|fs`: sequential and random 4 KiB I/O on one
 * block device or file, timed with CLOCK_MONOTONIC inside the guest. Busybox has no fio.
 * Built static by bench/io.ts with aarch64-linux-gnu-gcc and delivered on a disk image.
 *
 *   iobench PATH MIB RAND_OPS RAND_SECONDS [buffered]
 *
 * Uses O_DIRECT where the file system accepts it (so neither page cache nor readahead
 * hides the device); otherwise, or when asked for `buffered`, buffered I/O with O_DSYNC
 * writes, dropped caches before reads and POSIX_FADV_RANDOM for the random reads. One line per phase on stdout:
 *   iobench <phase> bytes=<n> ops=<n> usec=<n> direct=<0|1>
 * which bench/io-report.ts parses. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SEQ_BLOCK (1u << 20)
#define RAND_BLOCK 4096u

static uint64_t now_usec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *what) {
  fprintf(stderr, "iobench: %s: %s\n", what, strerror(errno));
  exit(2);
}

/* IOBENCH_KEEP_CACHES=1 (unit tests under qemu-user) leaves the host's caches alone. */
static void drop_caches(void) {
  if (getenv("IOBENCH_KEEP_CACHES")) return;
  sync();
  int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
  if (fd >= 0) {
    if (write(fd, "3\n", 2) < 0) { /* best effort */ }
    close(fd);
  }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t next_rand(void) { /* xorshift64: same offsets on every run */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void report(const char *phase, uint64_t bytes, uint64_t ops, uint64_t usec, int direct) {
  printf("iobench %s bytes=%llu ops=%llu usec=%llu direct=%d\n", phase, (unsigned long long)bytes,
         (unsigned long long)ops, (unsigned long long)usec, direct);
  fflush(stdout);
}

static int allow_direct = 1;

static int open_target(const char *path, int flags, int *direct) {
  if (allow_direct) {
    int fd = open(path, flags | O_DIRECT, 0644);
    if (fd >= 0) { *direct = 1; return fd; }
    if (errno != EINVAL) die(path);
  }
  *direct = 0;
  int fd = open(path, flags | ((flags & O_ACCMODE) != O_RDONLY ? O_DSYNC : 0), 0644);
  if (fd < 0) die(path);
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 5 && !(argc == 6 && strcmp(argv[5], "buffered") == 0)) {
    fprintf(stderr, "usage: iobench PATH MIB RAND_OPS RAND_SECONDS [buffered]\n");
    return 1;
  }
  allow_direct = argc == 5;
  const char *path = argv[1];
  uint64_t total = strtoull(argv[2], NULL, 0) << 20;
  uint64_t rand_ops = strtoull(argv[3], NULL, 0);
  uint64_t rand_usec = strtoull(argv[4], NULL, 0) * 1000000u;
  uint64_t blocks4k = total / RAND_BLOCK;
  if (total == 0 || blocks4k == 0) { fprintf(stderr, "iobench: size must be at least 1 MiB\n"); return 1; }
  void *buf;
  if (posix_memalign(&buf, 4096, SEQ_BLOCK)) die("posix_memalign");
  memset(buf, 0xa5, SEQ_BLOCK);
  int direct;

  /* Sequential write, then flush: the flush is part of the cost. */
  int fd = open_target(path, O_WRONLY | O_CREAT, &direct);
  uint64_t t0 = now_usec();
  for (uint64_t off = 0; off < total; off += SEQ_BLOCK)
    if (pwrite(fd, buf, SEQ_BLOCK, (off_t)off) != (ssize_t)SEQ_BLOCK) die("sequential write");
  if (fsync(fd)) die("fsync");
  report("seq-write", total, total / SEQ_BLOCK, now_usec() - t0, direct);
  close(fd);

  drop_caches();
  fd = open_target(path, O_RDONLY, &direct);
  t0 = now_usec();
  for (uint64_t off = 0; off < total; off += SEQ_BLOCK)
    if (pread(fd, buf, SEQ_BLOCK, (off_t)off) != (ssize_t)SEQ_BLOCK) die("sequential read");
  report("seq-read", total, total / SEQ_BLOCK, now_usec() - t0, direct);
  close(fd);

  /* Random 4 KiB writes: RAND_OPS of them or RAND_SECONDS, whichever ends first. */
  fd = open_target(path, O_WRONLY, &direct);
  uint64_t n = 0;
  t0 = now_usec();
  uint64_t t = t0;
  for (; n < rand_ops && t - t0 < rand_usec; n++) {
    off_t off = (off_t)((next_rand() % blocks4k) * RAND_BLOCK);
    if (pwrite(fd, buf, RAND_BLOCK, off) != (ssize_t)RAND_BLOCK) die("random write");
    if ((n & 15) == 15) t = now_usec();
  }
  if (fsync(fd)) die("fsync");
  report("rand-write", n * RAND_BLOCK, n, now_usec() - t0, direct);
  close(fd);

  drop_caches();
  fd = open_target(path, O_RDONLY, &direct);
  if (!direct) posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
  n = 0;
  t0 = t = now_usec();
  for (; n < rand_ops && t - t0 < rand_usec; n++) {
    off_t off = (off_t)((next_rand() % blocks4k) * RAND_BLOCK);
    if (pread(fd, buf, RAND_BLOCK, off) != (ssize_t)RAND_BLOCK) die("random read");
    if ((n & 15) == 15) t = now_usec();
  }
  report("rand-read", n * RAND_BLOCK, n, now_usec() - t0, direct);
  close(fd);
  return 0;
}
