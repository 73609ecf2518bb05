// Guest-controlled addresses and lengths either hit RAM or raise GuestMemoryError.
import { GuestMemory, GuestMemoryError } from '../../src/memory/guest-memory.ts';
import { InputReader, type FuzzTarget } from '../target.ts';

export const guestMemoryTarget: FuzzTarget = {
  name: 'guest-memory',
  setup: () => new GuestMemory([{ gpa: 0x4000_0000, bytes: new Uint8Array(0x10000) }]),
  isExpectedError: (e) => e instanceof GuestMemoryError,
  run(input, state) {
    const mem = state as GuestMemory;
    const r = new InputReader(input);
    const addr = Number(r.u64() & 0x1f_ffff_ffffn) ^ (r.u8() & 1 ? 0x4000_0000 : 0);
    const len = r.u32() % 0x20000;
    switch (r.u8() % 6) {
      case 0: mem.slice(addr, len); break;
      case 1: mem.readU64(addr); break;
      case 2: mem.writeU32(addr, r.u32()); break;
      case 3: mem.read(addr, new Uint8Array(len % 4096)); break;
      case 4: mem.writeU64(addr, r.u64()); break;
      default: mem.checkRange(addr, len);
    }
  },
};
