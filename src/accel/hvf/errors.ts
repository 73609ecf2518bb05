// Errors of the HVF backend: HvfError for a failing hv_* call (named after its
// hv_return_t), HvfUnavailableError when the addon cannot be used at all.

/** hv_return_t values (arm64/hv/hv_kern_types.h; HV_EXISTS from the 26.x SDKs). */
export const HV_RETURN = {
  HV_SUCCESS: 0,
  HV_ERROR: 0xfae94001,
  HV_BUSY: 0xfae94002,
  HV_BAD_ARGUMENT: 0xfae94003,
  HV_ILLEGAL_GUEST_STATE: 0xfae94004,
  HV_NO_RESOURCES: 0xfae94005,
  HV_NO_DEVICE: 0xfae94006,
  HV_DENIED: 0xfae94007,
  HV_EXISTS: 0xfae94008,
  HV_UNSUPPORTED: 0xfae9400f,
} as const;

export type HvReturnName = keyof typeof HV_RETURN | 'HV_UNKNOWN_ERROR';

const NAMES = new Map<number, HvReturnName>(
  Object.entries(HV_RETURN).map(([name, code]) => [code, name as HvReturnName]),
);

/** Name of an hv_return_t given signed or unsigned. */
export function hvReturnName(code: number): HvReturnName {
  return NAMES.get(code >>> 0) ?? 'HV_UNKNOWN_ERROR';
}

export const ENTITLEMENT = 'com.apple.security.hypervisor';

/** Why hv_vm_create fails with DENIED/UNSUPPORTED/ERROR: the two causes seen in practice. */
export function vmCreateHint(execPath: string = process.execPath): string {
  return (
    `Two causes are likely. (1) The executable lacks the ${ENTITLEMENT} entitlement: ` +
    `check with \`codesign -d --entitlements - ${execPath}\`; \`nodevisor doctor --sign\` creates an ` +
    `ad-hoc signed copy of node that has it. (2) This machine offers no virtualization: ` +
    `GitHub's hosted macOS runners and macOS guests cannot use Hypervisor.framework; ` +
    `\`sysctl kern.hv_support\` must print 1.`
  );
}

export class HvfError extends Error {
  override readonly name = 'HvfError';
  /** hv_return_t as an unsigned 32-bit number. */
  readonly code: number;
  readonly hvName: HvReturnName;
  /** The Hypervisor.framework function (or addon operation) that failed. */
  readonly call: string;

  constructor(call: string, code: number, detail?: string) {
    const unsigned = code >>> 0;
    const hvName = hvReturnName(unsigned);
    let message = detail ?? `${call} failed: ${hvName} (0x${unsigned.toString(16).padStart(8, '0')})`;
    if (call === 'hv_vm_create' && (hvName === 'HV_DENIED' || hvName === 'HV_UNSUPPORTED' || hvName === 'HV_ERROR')) {
      message += `. ${vmCreateHint()}`;
    }
    super(message);
    this.code = unsigned;
    this.hvName = hvName;
    this.call = call;
  }
}

interface NativeErrorShape {
  message: string;
  hvCode: number;
  hvCall?: string;
}

function isNativeHvError(e: unknown): e is NativeErrorShape {
  return e instanceof Error && typeof (e as Partial<NativeErrorShape>).hvCode === 'number';
}

/** Turns the addon's error (hvCode/hvCall properties) into an HvfError; others pass through. */
export function fromNativeError(e: unknown): unknown {
  if (!isNativeHvError(e)) return e;
  return new HvfError(e.hvCall ?? 'hvf', e.hvCode, e.message);
}

export class HvfUnavailableError extends Error {
  override readonly name = 'HvfUnavailableError';

  constructor(
    readonly platform: string,
    readonly reason: string,
    /** Every addon path that was looked at, in order. */
    readonly tried: readonly string[],
  ) {
    super(
      `Hypervisor.framework backend unavailable on ${platform}: ${reason}. ` +
        (tried.length ? `Paths tried: ${tried.join(', ')}.` : 'No addon paths were tried.'),
    );
  }
}
