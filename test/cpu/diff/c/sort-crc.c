#include "lib.h"
static int64_t arr[3000];
static uint32_t crc_table[256];
static void quicksort(int64_t *a, long lo, long hi) {
  while (lo < hi) {
    if (hi - lo < 12) {
      for (long i = lo + 1; i <= hi; i++) { int64_t v = a[i]; long j = i - 1; while (j >= lo && a[j] > v) { a[j+1] = a[j]; j--; } a[j+1] = v; }
      return;
    }
    int64_t p = a[lo + (hi - lo) / 2]; long i = lo, j = hi;
    while (i <= j) { while (a[i] < p) i++; while (a[j] > p) j--; if (i <= j) { int64_t t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; } }
    if (j - lo < hi - i) { quicksort(a, lo, j); lo = i; } else { quicksort(a, i, hi); hi = j; }
  }
}
static uint32_t crc32_bitwise(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffff;
  while (n--) { c ^= *p++; for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320 & -(c & 1)); }
  return ~c;
}
static uint32_t crc32_table(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffff;
  while (n--) c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
  return ~c;
}
static uint32_t adler32(const uint8_t *p, size_t n) {
  uint32_t a = 1, b = 0;
  while (n--) { a = (a + *p++) % 65521; b = (b + a) % 65521; }
  return b << 16 | a;
}
int main(void) {
  for (uint32_t i = 0; i < 256; i++) { uint32_t c = i; for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1; crc_table[i] = c; }
  long n = sizeof arr / sizeof arr[0];
  for (long i = 0; i < n; i++) arr[i] = (int64_t)rnd() >> (rnd() & 63);
  quicksort(arr, 0, n - 1);
  int sorted = 1;
  for (long i = 1; i < n; i++) if (arr[i-1] > arr[i]) sorted = 0;
  put_str("sorted="); put_u64(sorted); put_char('\n');
  for (long i = 0; i < n; i += 257) { put_i64(arr[i]); put_char(' '); }
  put_char('\n');
  const uint8_t *bytes = (const uint8_t *)arr;
  put_kv_hex("crc_bitwise", crc32_bitwise(bytes, sizeof arr));
  put_kv_hex("crc_table", crc32_table(bytes, sizeof arr));
  put_kv_hex("adler", adler32(bytes, sizeof arr));
  /* Integer formatting: division by constants and variables, signed and unsigned. */
  uint64_t acc = 0;
  for (int i = 0; i < 200; i++) {
    uint64_t v = rnd() >> (rnd() % 64);
    int64_t s = (int64_t)rnd() >> (rnd() % 64);
    uint64_t d = (rnd() >> (rnd() % 64)) | 1;
    put_u64(v); put_char(' '); put_i64(s); put_char(' ');
    put_u64(v / d); put_char(' '); put_u64(v % d); put_char(' ');
    put_i64(s / (int64_t)(d >> 1 | 1)); put_char(' '); put_i64(s % 7); put_char(' ');
    put_u64((uint32_t)v / ((uint32_t)d | 1)); put_char(' ');
    put_u64((unsigned __int128)v * d >> 64); put_char(' ');
    put_i64((__int128)s * (int64_t)d >> 64); put_char('\n');
    acc += v ^ (uint64_t)s;
  }
  flush();
  return (int)(acc & 0x7f);
}
