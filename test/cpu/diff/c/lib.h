/* Output helpers for the freestanding differential-test programs (no libc). */
static char out_buf[1 << 14];
static size_t out_len;
static void flush(void) { if (out_len) { nv_write(out_buf, out_len); out_len = 0; } }
static void put_char(char c) { if (out_len == sizeof out_buf) flush(); out_buf[out_len++] = c; }
static void put_str(const char *s) { while (*s) put_char(*s++); }
static void put_u64(uint64_t v) {
  char tmp[24]; int n = 0;
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) put_char(tmp[--n]);
}
static void put_i64(int64_t v) { if (v < 0) { put_char('-'); put_u64(-(uint64_t)v); } else put_u64((uint64_t)v); }
static void put_hex(uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; i--) put_char("0123456789abcdef"[(v >> (4 * i)) & 15]);
}
static void put_kv_hex(const char *k, uint64_t v) { put_str(k); put_str("=0x"); put_hex(v, 16); put_char('\n'); }
static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17; return rng_state;
}
