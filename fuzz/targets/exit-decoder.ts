// Any exit record the backend could produce decodes to an event without throwing.
import { ExitReason } from '../../src/accel/types.ts';
import { decodeExit, mmioReadResult } from '../../src/arch/arm64/exit-decoder.ts';
import { InputReader, type FuzzTarget } from '../target.ts';

export const exitDecoderTarget: FuzzTarget = {
  name: 'exit-decoder',
  run(input) {
    const r = new InputReader(input);
    const reason = r.u8() % 5 as ExitReason;
    const ev = decodeExit({ reason, syndrome: r.u64(), virtualAddress: r.u64(), physicalAddress: r.u64() & ((1n << 52n) - 1n) });
    if (ev.kind === 'mmio-read') {
      const v = mmioReadResult(ev, r.u64());
      if (v < 0n || v >= 1n << 64n) throw new Error(`MMIO result out of range: ${v}`);
    }
  },
};
