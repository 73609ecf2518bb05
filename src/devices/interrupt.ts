// How a device signals its interrupt. Devices hold an InterruptLine and never learn which
// controller (userspace GICv3 or HVF's in-kernel GIC) or INTID is behind it.

/** A level-sensitive wire from a device to the interrupt controller. */
export interface InterruptLine {
  /** Drive the wire high (asserted) or low. Repeating the same level is harmless. */
  setLevel(asserted: boolean): void;
}

/** What the machine wires device lines into: any GIC implementation. */
export interface SpiSink {
  /** Set the level of a shared peripheral interrupt by absolute INTID (32 and up). */
  setSpi(intid: number, asserted: boolean): void;
}

export function spiLine(sink: SpiSink, intid: number): InterruptLine {
  return { setLevel: (asserted) => sink.setSpi(intid, asserted) };
}

/** A line that records its level; for tests and for devices not wired to a controller. */
export class RecordingLine implements InterruptLine {
  level = false;
  transitions = 0;
  setLevel(asserted: boolean): void {
    if (asserted !== this.level) this.transitions++;
    this.level = asserted;
  }
}
