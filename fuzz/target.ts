// A fuzz target: feeds generated inputs to one parser or device model for a time budget.
// Any thrown error other than the target's own documented rejection is a finding, as is
// an input that runs longer than the per-input limit (a hang).

export interface FuzzTarget {
  readonly name: string;
  /** Build the state once (devices, memory); called again after a finding. */
  setup?(): unknown;
  /** Run one input. Return normally for accepted or cleanly rejected input. */
  run(input: Uint8Array, state: unknown): void | Promise<void>;
  /** Errors the target rejects inputs with by design (e.g. a typed parse error). */
  isExpectedError?(e: unknown): boolean;
  /** Seed inputs to start from (valid examples mutate into interesting invalid ones). */
  seeds?(): Uint8Array[];
}

export interface FuzzResult {
  name: string;
  inputs: number;
  findings: { input: Uint8Array; error: string }[];
  ms: number;
}

/** Deterministic xorshift PRNG so a run is reproducible from its seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  below(n: number): number {
    return this.next() % n;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff;
    return b;
  }
}

/** Mutate a seed: flip bits, overwrite with boundary values, splice, truncate or extend. */
export function mutate(rng: Rng, seed: Uint8Array, maxLen = 4096): Uint8Array {
  let out = seed.slice();
  const rounds = 1 + rng.below(8);
  const boundaries = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe];
  for (let r = 0; r < rounds; r++) {
    const op = rng.below(6);
    if (op === 0 && out.length) out[rng.below(out.length)] ^= 1 << rng.below(8);
    else if (op === 1 && out.length) out[rng.below(out.length)] = boundaries[rng.below(boundaries.length)];
    else if (op === 2 && out.length >= 4) {
      const at = rng.below(out.length - 3);
      new DataView(out.buffer, out.byteOffset).setUint32(at, [0, 0xffffffff, 0x80000000, 0x7fffffff, rng.next()][rng.below(5)], true);
    } else if (op === 3) out = out.subarray(0, rng.below(out.length + 1)).slice();
    else if (op === 4 && out.length < maxLen) {
      const extra = rng.bytes(1 + rng.below(64));
      const merged = new Uint8Array(Math.min(maxLen, out.length + extra.length));
      merged.set(out);
      merged.set(extra.subarray(0, merged.length - out.length), out.length);
      out = merged;
    } else if (out.length) out[rng.below(out.length)] = rng.next() & 0xff;
  }
  return out;
}

export async function fuzz(target: FuzzTarget, budgetMs: number, seed: number, hangMs = 2000): Promise<FuzzResult> {
  const rng = new Rng(seed);
  const seeds = target.seeds?.() ?? [];
  let state = target.setup?.();
  const findings: FuzzResult['findings'] = [];
  const t0 = performance.now();
  let inputs = 0;
  while (performance.now() - t0 < budgetMs && findings.length < 10) {
    const input = seeds.length && rng.below(4) !== 0
      ? mutate(rng, seeds[rng.below(seeds.length)])
      : rng.bytes(rng.below(512));
    inputs++;
    const started = performance.now();
    try {
      await target.run(input, state);
    } catch (e) {
      if (!target.isExpectedError?.(e)) {
        findings.push({ input, error: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e) });
        state = target.setup?.();
      }
    }
    if (performance.now() - started > hangMs) {
      findings.push({ input, error: `hang: one input took ${Math.round(performance.now() - started)} ms` });
    }
  }
  return { name: target.name, inputs, findings, ms: Math.round(performance.now() - t0) };
}

/** Little-endian readers over a fuzz input, yielding zero past its end. */
export class InputReader {
  private off = 0;
  constructor(private readonly b: Uint8Array) {}
  get done(): boolean {
    return this.off >= this.b.length;
  }
  u8(): number {
    return this.off < this.b.length ? this.b[this.off++] : 0;
  }
  u16(): number {
    return this.u8() | (this.u8() << 8);
  }
  u32(): number {
    return (this.u16() | (this.u16() << 16)) >>> 0;
  }
  u64(): bigint {
    return BigInt(this.u32()) | (BigInt(this.u32()) << 32n);
  }
  bytes(n: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(this.u8());
    return out;
  }
  /** What has not been read yet (a structured program's raw hostile tail). */
  rest(): Uint8Array {
    return this.b.subarray(Math.min(this.off, this.b.length));
  }
}
