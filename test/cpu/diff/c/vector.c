#include "lib.h"
/* Loops gcc auto-vectorizes at -O3: copies, byte scans, reductions, widening MACs, float maps. */
static uint8_t src[4099], dst[4099];
static int16_t a16[1024], b16[1024];
static int32_t i32[1024];
static float fa[1024], fb[1024], fc[1024];
static double da[512];
__attribute__((noinline)) static void copy_bytes(uint8_t *d, const uint8_t *s, size_t n) { for (size_t i = 0; i < n; i++) d[i] = s[i]; }
__attribute__((noinline)) static size_t my_strlen(const char *s) { size_t n = 0; while (s[n]) n++; return n; }
__attribute__((noinline)) static int64_t dot16(const int16_t *a, const int16_t *b, int n) { int64_t s = 0; for (int i = 0; i < n; i++) s += (int32_t)a[i] * b[i]; return s; }
__attribute__((noinline)) static void saxpy(float *y, const float *x, float a, int n) { for (int i = 0; i < n; i++) y[i] = a * x[i] + y[i]; }
__attribute__((noinline)) static uint32_t sum_bytes(const uint8_t *p, int n) { uint32_t s = 0; for (int i = 0; i < n; i++) s += p[i]; return s; }
__attribute__((noinline)) static int32_t max32(const int32_t *p, int n) { int32_t m = p[0]; for (int i = 1; i < n; i++) m = p[i] > m ? p[i] : m; return m; }
__attribute__((noinline)) static void clamp_u8(uint8_t *d, const int16_t *s, int n) { for (int i = 0; i < n; i++) { int v = s[i] >> 4; d[i] = v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v; } }
__attribute__((noinline)) static void to_upper(uint8_t *p, int n) { for (int i = 0; i < n; i++) p[i] = (p[i] >= 'a' && p[i] <= 'z') ? p[i] - 32 : p[i]; }
__attribute__((noinline)) static double dsum(const double *p, int n) { double s = 0; for (int i = 0; i < n; i++) s += p[i] * p[i]; return s; }
__attribute__((noinline)) static void i2f(float *d, const int32_t *s, int n) { for (int i = 0; i < n; i++) d[i] = (float)s[i] * 0.25f; }
__attribute__((noinline)) static void f2i(int32_t *d, const float *s, int n) { for (int i = 0; i < n; i++) d[i] = (int32_t)s[i]; }
__attribute__((noinline)) static uint64_t hist(const uint8_t *p, int n) { uint32_t h[16] = {0}; for (int i = 0; i < n; i++) h[p[i] & 15]++; uint64_t x = 0; for (int i = 0; i < 16; i++) x = x * 31 + h[i]; return x; }
int main(void) {
  for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(rnd() % 255 + 1);
  src[sizeof src - 1] = 0;
  for (int i = 0; i < 1024; i++) { uint64_t r = rnd(); a16[i] = (int16_t)r; b16[i] = (int16_t)(r >> 16); i32[i] = (int32_t)(r >> 32); fa[i] = (float)(int32_t)r / 65536.0f; fb[i] = (float)(int16_t)(r >> 40); }
  for (int i = 0; i < 512; i++) da[i] = (double)(int32_t)rnd() / 1024.0;
  for (size_t off = 0; off < 5; off++) { copy_bytes(dst + off, src + (off * 3 % 7), sizeof src - 8); put_u64(sum_bytes(dst, sizeof dst)); put_char(' '); }
  put_char('\n');
  put_u64(my_strlen((const char *)src)); put_char(' '); put_u64(my_strlen((const char *)src + 3001)); put_char('\n');
  put_i64(dot16(a16, b16, 1024)); put_char(' '); put_i64(dot16(a16 + 1, b16 + 3, 1000)); put_char('\n');
  saxpy(fa, fb, 1.5f, 1024); saxpy(fa + 1, fb, -0.75f, 1001);
  uint32_t fx = 0; for (int i = 0; i < 1024; i++) { uint32_t u; memcpy(&u, &fa[i], 4); fx = fx * 33 ^ u; }
  put_hex(fx, 8); put_char('\n');
  put_i64(max32(i32, 1024)); put_char(' '); put_i64(max32(i32 + 5, 777)); put_char('\n');
  clamp_u8(dst, a16, 1024); put_u64(sum_bytes(dst, 1024)); put_char(' ');
  to_upper(src, 4000); put_u64(sum_bytes(src, 4000)); put_char(' ');
  put_u64(hist(src, 4000)); put_char('\n');
  double ds = dsum(da, 512); uint64_t du; memcpy(&du, &ds, 8); put_hex(du, 16); put_char('\n');
  i2f(fc, i32, 1024); f2i(i32, fc, 1024); f2i(i32 + 1, fa, 1000);
  uint64_t ix = 0; for (int i = 0; i < 1024; i++) ix = ix * 1000003 + (uint32_t)i32[i];
  put_hex(ix, 16); put_char('\n');
  flush();
  return (int)(ix & 0x7f);
}
