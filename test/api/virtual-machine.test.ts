import { expect } from 'chai';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findToolchain, assembleRaw } from '../helpers/aarch64-toolchain.ts';
import { VirtualMachine, VirtualMachineError } from '../../src/index.ts';

const SOURCE = new URL('../fixtures/guests/smoke-kernel.S', import.meta.url);

describe('embedding API (VirtualMachine)', function () {
  this.timeout(60_000);
  let dir: string;
  let kernel: string;

  before(function () {
    const { toolchain, reason } = findToolchain();
    if (!toolchain) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'nodevisor-api-'));
    kernel = join(dir, 'Image');
    writeFileSync(kernel, assembleRaw(toolchain!, readFileSync(SOURCE, 'utf8'), ['-march=armv8-a']));
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  for (const mode of ['in-process', 'child-process'] as const) {
    describe(mode, () => {
      it('boots, streams the console, reports boot events and the power-off', async () => {
        const vm = new VirtualMachine({ kernel, cmdline: 'smoke', memory: '64M', cpus: 2, accel: 'emu', mode });
        const states: string[] = [];
        vm.on('state', (s) => states.push(s));
        let out = '';
        vm.console.on('data', (b: Buffer) => (out += b.toString()));
        await vm.start();
        const exit = await vm.waitForExit();
        expect(exit.reason).to.equal('poweroff');
        expect(out).to.equal('smoke: hello\nsmoke: timer tick\nsmoke: cpu1 ran\n');
        expect(states[0]).to.equal('starting');
        expect(states.at(-1)).to.equal('stopped');
        expect(vm.currentState).to.equal('stopped');
      });

      it('rejects a missing kernel with a clear error', async () => {
        const vm = new VirtualMachine({ kernel: join(dir, 'nope'), memory: '64M', accel: 'emu', mode });
        const err = await vm.start().then(() => undefined, (e: Error) => e);
        expect(err?.message).to.match(/nope/);
        expect(vm.currentState).to.equal('stopped');
      });

      it('pauses, resumes and stops a running guest', async () => {
        // A kernel whose first instruction branches to itself: it runs until stopped.
        const spin = new Uint8Array(readFileSync(kernel));
        new DataView(spin.buffer).setUint32(0, 0x14000000, true);
        const spinPath = join(dir, `spin-${mode}`);
        writeFileSync(spinPath, spin);
        const vm = new VirtualMachine({ kernel: spinPath, memory: '64M', accel: 'emu', mode });
        await vm.start();
        await vm.pause();
        expect(vm.currentState).to.equal('paused');
        await vm.pause().then(() => expect.fail('pause while paused'), (e) => expect(e).to.be.instanceOf(VirtualMachineError));
        await vm.resume();
        expect(vm.currentState).to.equal('running');
        const exit = await vm.stop();
        expect(exit.reason).to.equal('stopped');
      });
    });
  }

  it('refuses to start twice and to be used before start', async () => {
    const vm = new VirtualMachine({ kernel, cmdline: 'smoke', memory: '64M', cpus: 2, accel: 'emu' });
    await vm.pause().then(() => expect.fail('pause before start'), (e) => expect(e).to.be.instanceOf(VirtualMachineError));
    await vm.start();
    await vm.start().then(() => expect.fail('second start'), (e) => expect(e).to.be.instanceOf(VirtualMachineError));
    await vm.waitForExit();
  });
});
