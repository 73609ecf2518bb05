#include "lib.h"
static uint64_t bits_d(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static uint32_t bits_f(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static double from_bits(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
/* Prints a double with 9 decimals through integer arithmetic, not printf. */
static void put_double(double d) {
  if (d != d) { put_str("nan"); return; }
  if (d < 0) { put_char('-'); d = -d; }
  if (d > 1e18) { put_str("big:"); put_hex(bits_d(d), 16); return; }
  uint64_t ip = (uint64_t)d; double frac = d - (double)ip;
  put_u64(ip); put_char('.');
  uint64_t f = (uint64_t)(frac * 1e9 + 0.5);
  char t[9]; for (int i = 8; i >= 0; i--) { t[i] = (char)('0' + f % 10); f /= 10; }
  for (int i = 0; i < 9; i++) put_char(t[i]);
}
static volatile double vzero = 0.0;
int main(void) {
  double x = 2.0;
  for (int i = 0; i < 6; i++) x = 0.5 * (x + 2.0 / x);
  put_str("newton sqrt2 "); put_double(x); put_char(' '); put_hex(bits_d(x), 16); put_char('\n');
  put_str("fsqrt "); put_hex(bits_d(__builtin_sqrt(2.0)), 16); put_char(' '); put_hex(bits_f(__builtin_sqrtf(3.0f)), 8); put_char('\n');
  /* exp and sin by series, harmonic sums in both precisions. */
  double e = 1, term = 1; for (int k = 1; k < 25; k++) { term /= k; e += term; }
  double s = 0, xx = 0.7, t = xx; for (int k = 1; k < 20; k++) { s += t; t *= -xx * xx / ((2 * k) * (2 * k + 1)); }
  float hf = 0; double hd = 0; for (int k = 1; k <= 5000; k++) { hf += 1.0f / (float)k; hd += 1.0 / k; }
  put_str("e "); put_double(e); put_str(" sin0.7 "); put_double(s); put_str(" hf "); put_hex(bits_f(hf), 8);
  put_str(" hd "); put_hex(bits_d(hd), 16); put_char('\n');
  /* Conversions, including out-of-range and negative values (saturating on AArch64). */
  double conv[] = {0.5, 1.5, 2.5, -2.5, 1e10, -1e10, 4294967296.0, 9.3e18, -9.3e18, 1e300, -0.0, 123456.789};
  for (int i = 0; i < 12; i++) {
    double d = conv[i];
    put_i64((int64_t)d); put_char(' '); put_u64((uint64_t)d); put_char(' ');
    put_i64((int32_t)d); put_char(' '); put_u64((uint32_t)d); put_char(' ');
    put_hex(bits_f((float)d), 8); put_char(' ');
    put_i64(__builtin_lround(d)); put_char(' '); put_hex(bits_d(__builtin_floor(d)), 16); put_char(' ');
    put_hex(bits_d(__builtin_ceil(d)), 16); put_char(' '); put_hex(bits_d(__builtin_trunc(d)), 16); put_char(' ');
    put_hex(bits_d(__builtin_round(d)), 16); put_char('\n');
  }
  for (int i = 0; i < 40; i++) {
    uint64_t r = rnd();
    int64_t si = (int64_t)r >> (r & 63);
    double a = (double)si, b = (double)(r >> (r % 53));
    float af = (float)si, bf = (float)(uint32_t)r;
    put_hex(bits_d(a), 16); put_char(' '); put_hex(bits_d(b), 16); put_char(' ');
    put_hex(bits_f(af), 8); put_char(' '); put_hex(bits_f(bf), 8); put_char(' ');
    put_hex(bits_d(a / (b + 1.0)), 16); put_char(' '); put_hex(bits_d(__builtin_fma(a, 1.0 / 3.0, b)), 16); put_char(' ');
    put_hex(bits_f(af * bf - 1.0f), 8); put_char(' '); put_hex(bits_f(__builtin_sqrtf(bf)), 8); put_char(' ');
    put_hex(bits_d((double)af), 16); put_char('\n');
  }
  /* Infinities, NaNs, denormals. */
  double inf = 1.0 / vzero, nan = vzero / vzero, den = from_bits(1);
  put_hex(bits_d(inf), 16); put_char(' '); put_hex(bits_d(-inf), 16); put_char(' '); put_hex(bits_d(nan), 16); put_char(' ');
  put_hex(bits_d(den * 0.5), 16); put_char(' '); put_hex(bits_d(den * 1e300), 16); put_char(' ');
  put_hex(bits_d(inf - inf), 16); put_char(' '); put_u64(nan == nan); put_u64(inf > 1e308); put_u64(nan < 1.0); put_char('\n');
  put_hex(bits_f((float)from_bits(0x36a0000000000000ull)), 8); put_char(' '); put_hex(bits_f((float)1e-40), 8); put_char('\n');
  flush();
  return (int)(bits_d(e) & 0x3f);
}
