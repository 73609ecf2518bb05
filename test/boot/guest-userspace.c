// Linux user space that leans on what a CPU must get exactly right beyond single
// instructions: FP/SIMD state saved and restored around signal handlers, string functions
// (SIMD in glibc) ending just before an unmapped page, SIGSEGV with siginfo and siglongjmp,
// unaligned accesses across pages, fork with copy-on-write, threads contending on
// exclusives and a futex mutex, and libm. Everything on stdout is deterministic and must
// match qemu-aarch64; lines starting with "info:" vary with timing and are not compared.
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t h = 1469598103934665603ULL;
static void mix(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 1099511628211ULL; }
}

static volatile int alarms;
static volatile double handler_fp;
/** Uses FP registers itself: the interrupted loop must see its own values afterwards. */
static void on_alarm(int s) {
  (void)s;
  alarms++;
  double x = 1.0;
  for (int i = 0; i < 100; i++) x = x * 1.0000001 + 3.0;
  handler_fp += x;
}

static sigjmp_buf jb;
static volatile uintptr_t segv_addr;
static void on_segv(int s, siginfo_t *si, void *uc) {
  (void)s; (void)uc;
  segv_addr = (uintptr_t)si->si_addr;
  siglongjmp(jb, 1);
}

static long atomic_counter, locked_counter;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static void *worker(void *arg) {
  long k = (long)arg;
  for (int i = 0; i < 20000; i++) {
    __atomic_fetch_add(&atomic_counter, k, __ATOMIC_SEQ_CST);
    if (i % 4 == 0) { pthread_mutex_lock(&mu); locked_counter += k; pthread_mutex_unlock(&mu); }
  }
  return 0;
}

int main(void) {
  // Vector loop under a 5 ms interval timer (wall clock: a shorter one can starve the loop
  // on a slow software CPU, every tick spent delivering the signal).
  struct sigaction sa = {0};
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, 0);
  struct itimerval it = {{0, 5000}, {0, 5000}}, off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &it, 0);
  double v[256], sum = 0;
  for (int i = 0; i < 256; i++) v[i] = i * 0.5;
  for (int r = 0; r < 3000; r++)
    for (int i = 0; i < 256; i++) { v[i] = v[i] * 0.999 + 0.25; sum += v[i]; }
  setitimer(ITIMER_REAL, &off, 0);
  printf("info: signals %d\n", alarms);
  printf("fp under signals %.17g %.17g\n", sum, v[17]);

  // String functions on strings that end right before a PROT_NONE page.
  long pg = sysconf(_SC_PAGESIZE);
  unsigned char *m = mmap(0, pg * 3, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED || mprotect(m + pg * 2, pg, PROT_NONE) != 0) { puts("mmap failed"); return 1; }
  for (int len = 0; len < 80; len++) {
    for (int tail = 0; tail < 3; tail++) {
      char *s = (char *)m + pg * 2 - len - 1 - tail;
      memset(m + pg, 'a', pg);
      for (int i = 0; i < len; i++) s[i] = 'A' + (i * 7 + len) % 26;
      s[len] = 0;
      size_t l = strlen(s); mix(&l, sizeof l);
      char *c = memchr(s, 'Q', len + 1); long o1 = c ? c - s : -1; mix(&o1, sizeof o1);
      char *r = strrchr(s, 'B'); long o2 = r ? r - s : -1; mix(&o2, sizeof o2);
      char buf[128]; memcpy(buf, s, len + 1); int cmp = strcmp(buf, s); mix(&cmp, sizeof cmp);
      char *d = (char *)m + pg * 2 - len - 1; memmove(d, s, len + 1); mix(d, len + 1);
      size_t sp = strspn(s, "ABCDEFGHIJ"); mix(&sp, sizeof sp);
      int nc = strncmp(s, "MNOPQ", 5); mix(&nc, sizeof nc);
    }
  }
  printf("strings at a page end %016llx\n", (unsigned long long)h);

  // Loads that run into the PROT_NONE page: SIGSEGV with the faulting address.
  struct sigaction sb = {0};
  sb.sa_sigaction = on_segv;
  sb.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sb, 0);
  int faults = 0;
  for (int k = 1; k <= 16; k++) {
    if (sigsetjmp(jb, 1) == 0) { volatile uint64_t *p = (uint64_t *)(m + pg * 2 - 16 + k); uint64_t x = *p; mix(&x, 8); }
    else { faults++; long o = (long)(segv_addr - (uintptr_t)m); mix(&o, sizeof o); }
  }
  printf("faults %d %016llx\n", faults, (unsigned long long)h);

  // Unaligned 8- and 16-byte accesses across a page boundary.
  for (int k = 0; k < 16; k++) {
    uint64_t *p = (uint64_t *)(m + pg - 8 + k);
    *p = 0x0102030405060708ULL * (k + 1);
    uint64_t q = *p; mix(&q, 8);
  }
  __uint128_t *pq = (__uint128_t *)(m + pg - 7);
  *pq = ((__uint128_t)0x1122334455667788ULL << 64) | 0x99aabbccddeeff00ULL;
  mix(m + pg - 16, 32);
  printf("unaligned %016llx\n", (unsigned long long)h);

  // fork: the child's writes must not reach the parent's pages.
  unsigned char *cow = malloc(1 << 20);
  memset(cow, 7, 1 << 20);
  pid_t pid = fork();
  if (pid == 0) {
    memset(cow, 9, 1 << 19);
    uint64_t s = 0;
    for (int i = 0; i < (1 << 20); i += 4096) s += cow[i];
    _exit((int)(s % 251));
  }
  int st = 0;
  waitpid(pid, &st, 0);
  uint64_t ps = 0;
  for (int i = 0; i < (1 << 20); i += 4096) ps += cow[i];
  printf("fork child %d parent %llu\n", WEXITSTATUS(st), (unsigned long long)ps);

  // Threads: atomic adds (exclusives without LSE) and a futex-backed mutex.
  pthread_t t[4];
  for (long i = 0; i < 4; i++) pthread_create(&t[i], 0, worker, (void *)(i + 1));
  for (int i = 0; i < 4; i++) pthread_join(t[i], 0);
  printf("threads %ld %ld\n", atomic_counter, locked_counter);

  // libm and conversions.
  double acc = 0;
  for (int i = 1; i < 2000; i++) {
    double x = i * 0.37;
    acc += sin(x) * cos(x / 3) + exp(-x / 100) + log(x) + pow(x, 0.3) + atan2(x, 7) + sqrt(x) + cbrt(x) + tanh(x / 50);
  }
  printf("libm %.17g\n", acc);
  float fa = 0;
  for (int i = 1; i < 2000; i++) { float x = i * 0.37f; fa += sinf(x) + expf(-x / 100) + logf(x) + powf(x, 0.3f); }
  printf("libm float %.9g\n", (double)fa);
  printf("long double %.30Lg\n", 1.0L / 3.0L);
  printf("strtod %.17g %.17g\n", strtod("1.7976931348623157e308", 0), strtod("4.9e-324", 0));
  printf("info: handler fp %d\n", handler_fp >= 0);
  return 0;
}
