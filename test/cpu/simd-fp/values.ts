// Deterministic operand generators for the oracle tests: lanes are drawn mostly from
// IEEE edge cases (zeros, subnormals, extremes, infinities, quiet and signalling NaNs,
// integer-conversion boundaries) and partly from random bits.
export type Gen = 'f16' | 'f32' | 'f64' | 'int';

export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const F16 = [0, 0x8000, 0x3c00, 0xbc00, 0x3800, 0x0001, 0x03ff, 0x8200, 0x0400, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0x7e01, 0xfe55, 0x7c01, 0x7d23, 0x4248];

const F32 = [
  0, 0x80000000, 0x3f800000, 0xbf800000, 0x3fc00000, 0x40200000, 0xc0200000, 0x40600000, 0x3f000000, 0xbf000000,
  0x3dcccccd, 0x00000001, 0x007fffff, 0x80000003, 0x00800000, 0x80800000, 0x00800001, 0x7f7fffff, 0xff7fffff,
  0x7f800000, 0xff800000, 0x7fc00000, 0x7fc00123, 0xffc00456, 0x7f800001, 0x7fa00007, 0xff800009, 0x4f000000,
  0x4f800000, 0x5f000000, 0x5f800000, 0xcf000000, 0xdf000000, 0x4b800001, 0x3effffff, 0x3f000001, 0x0c000000,
  0x1f800000, 0x60000000, 0x40490fdb, 0x3eaaaaab, 0x4effffff, 0x4f7fffff, 0x3f7fffff, 0x33800000, 0x01000000,
];

const F64 = [
  0n, 0x8000000000000000n, 0x3ff0000000000000n, 0xbff0000000000000n, 0x3ff8000000000000n, 0x4004000000000000n,
  0xc004000000000000n, 0x3fe0000000000000n, 0x3fb999999999999an, 0x1n, 0x000fffffffffffffn, 0x8000000000000003n,
  0x0010000000000000n, 0x8010000000000000n, 0x0010000000000001n, 0x7fefffffffffffffn, 0xffefffffffffffffn,
  0x7ff0000000000000n, 0xfff0000000000000n, 0x7ff8000000000000n, 0x7ff8000000000123n, 0xfff8000000000456n,
  0x7ff0000000000001n, 0x7ff4000000000007n, 0xfff0000000000009n, 0x41e0000000000000n, 0x41f0000000000000n,
  0x43e0000000000000n, 0x43f0000000000000n, 0xc3e0000000000000n, 0xc1e0000000000000n, 0x4340000000000001n,
  0x3fdfffffffffffffn, 0x0030000000000000n, 0x2000000000000000n, 0x5ff0000000000000n, 0x7e37e43c8800759cn,
  0x47efffffe0000000n, 0x47efffffffffffffn, 0x3810000000000000n, 0x36a0000000000000n, 0x369fffffffffffffn,
  0x400921fb54442d18n, 0x3fd5555555555555n, 0x41dfffffffc00000n, 0x43dfffffffffffffn, 0x3fefffffffffffffn,
  0x3ca0000000000000n, 0x0360000000000000n, 0x41efffffffe00000n,
];

const INT_BYTES = [0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x81, 0x40];

export class ValueGen {
  private readonly rnd: () => number;
  constructor(seed: number) {
    this.rnd = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  bits32(): number {
    return this.int(0x10000) * 0x10000 + this.int(0x10000);
  }
  bits64(): bigint {
    return (BigInt(this.bits32()) << 32n) | BigInt(this.bits32());
  }
  private pick<T>(list: T[]): T {
    return list[this.int(list.length)];
  }
  f32(): number {
    const r = this.rnd();
    if (r < 0.55) return this.pick(F32);
    if (r < 0.8) {
      const v = Math.fround((this.rnd() - 0.5) * 2 ** (this.int(60) - 20));
      const b = new DataView(new ArrayBuffer(4));
      b.setFloat32(0, v, true);
      return b.getUint32(0, true);
    }
    return this.bits32();
  }
  f64(): bigint {
    const r = this.rnd();
    if (r < 0.55) return this.pick(F64);
    if (r < 0.8) {
      const b = new DataView(new ArrayBuffer(8));
      b.setFloat64(0, (this.rnd() - 0.5) * 2 ** (this.int(100) - 30), true);
      return b.getBigUint64(0, true);
    }
    return this.bits64();
  }
  f16(): number {
    return this.rnd() < 0.6 ? this.pick(F16) : this.int(0x10000);
  }
  /** 16 bytes of a V register filled according to `gen`. */
  vreg(gen: Gen): Uint8Array {
    const out = new Uint8Array(16);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < 16; ) {
      switch (gen) {
        case 'f16':
          dv.setUint16(i, this.f16(), true);
          i += 2;
          break;
        case 'f32':
          dv.setUint32(i, this.f32(), true);
          i += 4;
          break;
        case 'f64':
          dv.setBigUint64(i, this.f64(), true);
          i += 8;
          break;
        default:
          out[i] = this.rnd() < 0.35 ? this.pick(INT_BYTES) : this.int(256);
          i += 1;
      }
    }
    return out;
  }
  /** A general-register value: small, boundary or random. */
  xreg(): bigint {
    const r = this.rnd();
    if (r < 0.3) return BigInt.asUintN(64, BigInt(this.int(2001) - 1000));
    if (r < 0.55) {
      return this.pick([
        0n, 0xffffffffffffffffn, 0x8000000000000000n, 0x7fffffffffffffffn, 0x80000000n, 0x7fffffffn, 0xffffffffn,
        0x20000000000001n, 0x1fffffffffffffn, 0xffffffff80000000n, 0x1000001n, 0xfffffffffefffffdn, 0x123456789abcdefn,
      ]);
    }
    return this.bits64();
  }
}
