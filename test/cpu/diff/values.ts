// Deterministic pseudo-random operands for the generated instruction cases: SplitMix64
// seeded from the case name (so adding a case never changes another's inputs), biased
// towards the edge values where CPU bugs live.

const MASK64 = (1n << 64n) - 1n;

export class Rng {
  private state: bigint;

  constructor(seed: string | bigint) {
    if (typeof seed === 'bigint') {
      this.state = seed & MASK64;
    } else {
      let h = 0xcbf29ce484222325n; // FNV-1a 64
      for (let i = 0; i < seed.length; i++) h = ((h ^ BigInt(seed.charCodeAt(i))) * 0x100000001b3n) & MASK64;
      this.state = h;
    }
  }

  next64(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Number(this.next64() % BigInt(n));
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 8) {
      let v = this.next64();
      for (let j = 0; j < 8 && i + j < n; j++) {
        out[i + j] = Number(v & 0xffn);
        v >>= 8n;
      }
    }
    return out;
  }
}

export const u64 = (v: bigint) => v & MASK64;

export const INT_EDGES: readonly bigint[] = [
  0n, 1n, 2n, MASK64, MASK64 - 1n,
  0x8000_0000_0000_0000n, 0x7fff_ffff_ffff_ffffn, 0x8000_0000_0000_0001n,
  0x8000_0000n, 0x7fff_ffffn, 0xffff_ffffn, 0x1_0000_0000n, 0xffff_ffff_0000_0000n,
  0xffff_ffff_8000_0000n, 0xffff_ffff_7fff_ffffn,
  0x8000n, 0xffffn, 0x80n, 0xffn, 31n, 32n, 63n, 64n,
  0x5555_5555_5555_5555n, 0xaaaa_aaaa_aaaa_aaaan, 0x0123_4567_89ab_cdefn,
];

/** A 64-bit integer operand: edge value 40% of the time, else a value of some random shape. */
export function intValue(rng: Rng): bigint {
  const r = rng.int(10);
  if (r < 4) return rng.pick(INT_EDGES);
  const v = rng.next64();
  switch (r) {
    case 4: return v & 0xffn;
    case 5: return v & 0xffff_ffffn;
    case 6: return u64(BigInt.asIntN(32, v)); // sign-extended 32-bit
    case 7: return u64(BigInt.asIntN(64, v & 0xffffn) - 0x8000n); // small signed
    default: return v;
  }
}

/** Small shift/index amounts, sometimes with garbage in the upper bits. */
export function smallValue(rng: Rng, max: number): bigint {
  const v = BigInt(rng.int(max + 1));
  return rng.int(4) === 0 ? (rng.next64() & ~0xffn) | v : v;
}

export const F64_EDGES: readonly bigint[] = [
  0x0000000000000000n, 0x8000000000000000n, // +-0
  0x3ff0000000000000n, 0xbff0000000000000n, // +-1
  0x3fe0000000000000n, 0x3ff8000000000000n, 0x4004000000000000n, 0xc004000000000000n, // 0.5 1.5 2.5 -2.5
  0x7ff0000000000000n, 0xfff0000000000000n, // +-inf
  0x7ff8000000000000n, 0xfff8000000000000n, 0x7ff8dead0000beefn, // qNaN
  0x7ff0000000000001n, 0x7ff4000000000000n, 0xfff0000000c0ffeen, // sNaN
  0x0000000000000001n, 0x000fffffffffffffn, 0x8000000000000001n, 0x0008000000000000n, // denormals
  0x0010000000000000n, 0x8010000000000000n, 0x7fefffffffffffffn, 0xffefffffffffffffn, // min normal, max
  0x43e0000000000000n, 0xc3e0000000000000n, 0x43f0000000000000n, // 2^63, -2^63, 2^64
  0x41dfffffffc00000n, 0x41e0000000000000n, 0xc1e0000000200000n, // 2^31-1, 2^31, -(2^31+1)
  0x41efffffffe00000n, 0x3fefffffffffffffn, 0x3ff0000000000001n, // 2^32-1, 1-ulp, 1+ulp
  0x400921fb54442d18n, 0x7e37e43c8800759cn, 0x01a56e1fc2f8f359n, // pi, 1e300, 1e-300
];

export const F32_EDGES: readonly bigint[] = [
  0x00000000n, 0x80000000n, 0x3f800000n, 0xbf800000n, 0x3f000000n, 0x3fc00000n, 0x40200000n, 0xc0200000n,
  0x7f800000n, 0xff800000n, 0x7fc00000n, 0xffc00000n, 0x7fc0beefn, 0x7f800001n, 0x7fa00000n, 0xff80c0den,
  0x00000001n, 0x007fffffn, 0x80000001n, 0x00400000n, 0x00800000n, 0x80800000n, 0x7f7fffffn, 0xff7fffffn,
  0x5f000000n, 0xdf000000n, 0x5f800000n, 0x4f000000n, 0xcf000000n, 0x4f800000n,
  0x3f7fffffn, 0x3f800001n, 0x40490fdbn, 0x7149f2can, 0x0da24260n,
];

export const F16_EDGES: readonly bigint[] = [
  0x0000n, 0x8000n, 0x3c00n, 0xbc00n, 0x3800n, 0x3e00n, 0x4100n, 0xc100n, 0x7c00n, 0xfc00n, 0x7e00n,
  0x7c01n, 0x7d00n, 0x0001n, 0x03ffn, 0x8001n, 0x0400n, 0x7bffn, 0xfbffn, 0x4248n,
];

/** A "normal-looking" double: random mantissa, exponent near 1.0, random sign. */
function randomF64(rng: Rng): bigint {
  const mant = rng.next64() & 0xf_ffff_ffff_ffffn;
  const exp = BigInt(1023 - 40 + rng.int(80));
  const sign = BigInt(rng.int(2)) << 63n;
  return sign | (exp << 52n) | mant;
}
function randomF32(rng: Rng): bigint {
  const mant = rng.next64() & 0x7f_ffffn;
  const exp = BigInt(127 - 30 + rng.int(60));
  const sign = BigInt(rng.int(2)) << 31n;
  return sign | (exp << 23n) | mant;
}
function randomF16(rng: Rng): bigint {
  const mant = rng.next64() & 0x3ffn;
  const exp = BigInt(15 - 6 + rng.int(12));
  const sign = BigInt(rng.int(2)) << 15n;
  return sign | (exp << 10n) | mant;
}

export type FpSize = 16 | 32 | 64;

/** Bit pattern of an FP operand: an edge value half the time, else an ordinary number. */
export function fpValue(rng: Rng, size: FpSize): bigint {
  const edge = rng.int(2) === 0;
  if (size === 64) return edge ? rng.pick(F64_EDGES) : randomF64(rng);
  if (size === 32) return edge ? rng.pick(F32_EDGES) : randomF32(rng);
  return edge ? rng.pick(F16_EDGES) : randomF16(rng);
}

/** A random integer that fits an FP conversion well (near 2^k boundaries, halves). */
export function fpIntValue(rng: Rng): bigint {
  const k = rng.int(64);
  const base = 1n << BigInt(k);
  const delta = BigInt(rng.int(5)) - 2n;
  const v = base + delta;
  return u64(rng.int(2) ? v : -v);
}
