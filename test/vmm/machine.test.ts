import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { findToolchain, assembleRaw } from '../helpers/aarch64-toolchain.ts';
import { Machine, runMachine, buildDeviceTree, MachineConfigError } from '../../src/vmm/machine.ts';
import { SerialPort } from '../../src/devices/serial-backend.ts';
import { parseFdt, findNode } from '../../src/fdt/reader.ts';

const SOURCE = new URL('../fixtures/guests/smoke-kernel.S', import.meta.url);

describe('machine on the software CPU (bare-metal smoke kernel)', function () {
  this.timeout(60_000);
  let kernel: Uint8Array;

  before(async function () {
    const { toolchain, reason } = findToolchain();
    if (!toolchain) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    kernel = assembleRaw(toolchain!, readFileSync(SOURCE, 'utf8'), ['-march=armv8-a']);
    try {
      await import('../../src/accel/emu/accelerator.ts');
    } catch {
      console.log('      skipped: the software CPU is not available');
      this.skip();
    }
  });

  for (const cpus of [2, 4]) {
    it(`boots, prints, takes a timer interrupt, starts a secondary and powers off (${cpus} vCPUs)`, async function () {
      const port = new SerialPort();
      let out = '';
      port.onOutput((b) => (out += Buffer.from(b).toString()));
      const exit = await runMachine({ kernel, cmdline: 'smoke', memoryBytes: 64 << 20, cpus, accel: 'emu', console: port });
      port.flush();
      expect(out).to.equal('smoke: hello\nsmoke: timer tick\nsmoke: cpu1 ran\n');
      expect(exit.reason).to.equal('poweroff');
    });
  }

  it('reports PSCI CPU_ON of a missing vCPU as an error to the guest', async () => {
    const port = new SerialPort();
    let out = '';
    port.onOutput((b) => (out += Buffer.from(b).toString()));
    const exit = await runMachine({ kernel, cmdline: 'smoke', memoryBytes: 64 << 20, cpus: 1, accel: 'emu', console: port });
    port.flush();
    expect(out).to.equal('smoke: hello\nsmoke: timer tick\nsmoke: FAIL\n');
    expect(exit.reason).to.equal('poweroff');
  });

  it('can be stopped from the host while the guest runs', async () => {
    const spin = new Uint8Array(kernel);
    // Patch "b entry" (code0) into "b ." so the guest spins forever.
    new DataView(spin.buffer).setUint32(0, 0x14000000, true);
    const m = await Machine.create({ kernel: spin, cmdline: 'x', memoryBytes: 64 << 20, cpus: 1, accel: 'emu' });
    const done = m.run();
    setTimeout(() => m.stop(), 100);
    expect((await done).reason).to.equal('stopped');
  });
});

describe('machine with an in-kernel GIC (HVF on macOS 15)', () => {
  it('creates the VM with the GIC bases, keeps GIC frames off the bus and routes device lines to it', async () => {
    const { EmuAccelerator } = await import('../../src/accel/emu/accelerator.ts');
    const emu = new EmuAccelerator();
    const spis: string[] = [];
    let vmConfig: unknown;
    const accelerator = {
      name: 'hvf' as const,
      capabilities: () => ({ ...emu.capabilities(), inKernelGic: true }),
      createVm(config?: Parameters<typeof emu.createVm>[0]) {
        vmConfig = config;
        const vm = emu.createVm({});
        return Object.assign(vm, { gic: { setSpi: (intid: number, level: boolean) => spis.push(`${intid}:${level}`), reset: () => undefined } });
      },
    };
    const { toolchain } = findToolchain();
    const kernel = toolchain
      ? assembleRaw(toolchain, readFileSync(SOURCE, 'utf8'), ['-march=armv8-a'])
      : (() => { const k = new Uint8Array(4096); new DataView(k.buffer).setUint32(56, 0x644d5241, true); return k; })();
    const m = await Machine.create({ kernel, cmdline: 'x', memoryBytes: 64 << 20, cpus: 2, accel: 'hvf', accelerator });
    expect(vmConfig).to.deep.equal({ inKernelGic: { distributorBase: 0x0800_0000, redistributorBase: 0x080a_0000 } });
    expect(m.devices.bus.entries.map((e) => e.device.name)).to.not.include.members(['gicv3-distributor', 'gicv3-redistributors']);
    expect(m.devices.bus.find(0x0800_0000)).to.equal(undefined);
    expect(m.devices.interrupts.userspace).to.equal(undefined);
    // Enable the PL011's receive interrupt and type a byte: its line is SPI 1 = INTID 33.
    m.devices.bus.write(0x0900_0030, 4, 0x301);
    m.devices.bus.write(0x0900_0038, 4, 1 << 4);
    m.console.sendInput('x');
    expect(spis).to.include('33:true');
    m.stop();
    await m.run();
  });
});

describe('machine configuration', () => {
  it('rejects bad sizes and vCPU counts before allocating anything', async () => {
    const base = { kernel: new Uint8Array(0), cmdline: '', accel: 'emu' as const };
    await Machine.create({ ...base, memoryBytes: 1 << 20, cpus: 1 }).then(() => expect.fail(), (e) => expect(e).to.be.instanceOf(MachineConfigError));
    await Machine.create({ ...base, memoryBytes: 64 << 20, cpus: 0 }).then(() => expect.fail(), (e) => expect(e).to.be.instanceOf(MachineConfigError));
    await Machine.create({ ...base, memoryBytes: (64 << 20) + 4096, cpus: 1 }).then(() => expect.fail(), (e) => expect(e).to.be.instanceOf(MachineConfigError));
  });

  it('builds the DTB a boot would use', async function () {
    const { toolchain } = findToolchain();
    if (!toolchain) this.skip();
    const kernel = assembleRaw(toolchain!, readFileSync(SOURCE, 'utf8'), ['-march=armv8-a']);
    const dtb = await buildDeviceTree({ kernel, cmdline: 'console=ttyAMA0', memoryBytes: 256 << 20, cpus: 4, accel: 'emu', entropy: (n) => new Uint8Array(n) });
    const tree = parseFdt(dtb);
    expect(findNode(tree.root, '/cpus/cpu@3')).to.not.equal(undefined);
    expect(Buffer.from(findNode(tree.root, '/chosen')!.properties.get('bootargs')!).toString()).to.equal('console=ttyAMA0\0');
  });
});
