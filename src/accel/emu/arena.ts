// vCPU state areas inside guest RAM's WebAssembly.Memory (the tail allocateRam reserves), so
// translated code reaches a vCPU's registers, its TLB mirror and guest RAM through the one
// memory a WebAssembly module may import. RAM without such a tail leaves each vCPU its own
// memory and translated loads and stores on the JS helpers.
import { wasmArenaOf, type WasmArena } from '../../memory/ram.ts';
import type { StateArea } from './state.ts';
import { STATE_AREA_BYTES } from './state-area.ts';

/** Which state areas of each arena are taken. */
const taken = new WeakMap<WasmArena, Uint8Array>();

/** A zeroed state area in the arena behind `ram`, or undefined (no arena, or every area taken). */
export function claimStateArea(ram: Uint8Array): StateArea | undefined {
  const arena = wasmArenaOf(ram);
  if (arena === undefined) return undefined;
  let used = taken.get(arena);
  if (used === undefined) {
    used = new Uint8Array(Math.floor(arena.tailBytes / STATE_AREA_BYTES));
    taken.set(arena, used);
  }
  const slot = used.indexOf(0);
  if (slot < 0) return undefined;
  used[slot] = 1;
  const base = arena.tail + slot * STATE_AREA_BYTES;
  new Uint8Array(arena.memory.buffer, base, STATE_AREA_BYTES).fill(0); // a previous VM's words and dispatch entries
  return { memory: arena.memory, base };
}

/** Give an area back (its vCPU is gone). */
export function releaseStateArea(ram: Uint8Array, area: StateArea): void {
  const arena = wasmArenaOf(ram);
  const used = arena === undefined ? undefined : taken.get(arena);
  if (arena === undefined || used === undefined || area.memory !== arena.memory) return;
  used[(area.base - arena.tail) / STATE_AREA_BYTES] = 0;
}
