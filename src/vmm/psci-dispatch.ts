// Connects PSCI calls from the run loops to the pure handler in arch/arm64/psci.ts and
// keeps the machine's power-state table in step with the vCPU loops.
import { handlePsciCall, PowerState } from '../arch/arm64/psci.ts';
import type { PsciAction } from './vcpu-runner.ts';

export class PsciDispatcher {
  readonly power: PowerState;

  constructor(vcpuCount: number, private readonly isRam: (pa: bigint) => boolean) {
    this.power = new PowerState(vcpuCount);
  }

  call(cpu: number, args: readonly [bigint, bigint, bigint, bigint]): { x0: bigint; action: PsciAction } {
    const [x0, x1, x2, x3] = args;
    return handlePsciCall({ x0, x1, x2, x3 }, cpu, this.power, { isValidEntry: this.isRam });
  }

  /** The target vCPU's loop has taken the CPU_ON request. */
  running(cpu: number): void {
    this.power.markOn(cpu);
  }
}
