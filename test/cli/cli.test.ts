// The CLI as a user meets it: `node bin/nodevisor.js ...` in a child process.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findNode, parseFdt, propString } from '../../src/fdt/reader.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'nodevisor.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let scratch: string;
let emptyCache: string;

function cli(args: string[], env: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NODEVISOR_CACHE: emptyCache, ...env },
    input: '',
    timeout: 60000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** One line on stderr, "nodevisor: ...", no stack trace, the documented code. */
function expectUserError(r: Run, code: number, message: RegExp): void {
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).to.have.length(1);
  expect(lines[0]).to.match(/^nodevisor: /);
  expect(lines[0]).to.match(message);
  expect(r.stderr).to.not.match(/^\s+at /m);
  expect(r.code, r.stderr).to.equal(code);
}

function kernelStub(): string {
  // The smallest file that passes the CLI's Image check: the ARM\x64 magic at 0x38.
  const img = Buffer.alloc(4096);
  img.writeUInt32LE(0x644d5241, 0x38);
  const p = join(scratch, 'Image');
  writeFileSync(p, img);
  return p;
}

describe('nodevisor CLI', function () {
  this.timeout(60000);

  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'nv-cli-'));
    emptyCache = join(scratch, 'cache');
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  describe('--help', () => {
    const cases: [string[], RegExp][] = [
      [['--help'], /Commands:[\s\S]*boot[\s\S]*run[\s\S]*dtb[\s\S]*guest[\s\S]*doctor[\s\S]*Exit codes:/],
      [['boot', '--help'], /--kernel[\s\S]*--memory[\s\S]*--cpus[\s\S]*--accel[\s\S]*--disk[\s\S]*--share[\s\S]*--vsock[\s\S]*--net[\s\S]*--no-reboot[\s\S]*--config/],
      [['run', '--help'], /-- CMD[\s\S]*HOSTDIR\[:GUESTDIR\]/],
      [['dtb', '--help'], /--out/],
      [['boot', '--help'], /--log-level[\s\S]*--log-file[\s\S]*--trace[\s\S]*--json/],
      [['guest', '--help'], /build[\s\S]*list[\s\S]*clean/],
      [['guest', 'build', '--help'], /--mirror[\s\S]*--debs[\s\S]*--quiet/],
      [['doctor', '--help'], /--sign/],
    ];
    for (const [args, pattern] of cases) {
      it(`nodevisor ${args.join(' ')}`, () => {
        const r = cli(args);
        expect(r.code).to.equal(0);
        expect(r.stdout).to.match(pattern);
        expect(r.stderr).to.equal('');
      });
    }
  });

  describe('bad input', () => {
    it('unknown command: exit 2', () => expectUserError(cli(['frobnicate']), 2, /unknown command 'frobnicate'/));
    it('no command: exit 2', () => expectUserError(cli([]), 2, /no command given/));
    it('unknown flag: exit 2', () => expectUserError(cli(['boot', '--kernal', 'x']), 2, /Unknown argument/));
    it('unknown guest action: exit 2', () => expectUserError(cli(['guest', 'destroy']), 2, /Unknown argument: destroy/));
    it('flag without its value: exit 2', () => expectUserError(cli(['boot', '--memory']), 2, /memory/));
    for (const [mem, why] of [
      ['100000', /multiple of 16 KiB/],
      ['32M', /at least 64 MiB/],
      ['1T', /IPA/],
      ['lots', /expected a number/],
    ] as const) {
      it(`--memory ${mem}: exit 2`, () => expectUserError(cli(['boot', '--kernel', kernelStub(), '--memory', mem]), 2, why));
    }
    for (const cpus of ['0', '124', 'two']) {
      it(`--cpus ${cpus}: exit 2`, () => expectUserError(cli(['boot', '--kernel', kernelStub(), '--cpus', cpus]), 2, /--cpus/));
    }
    it('--accel kvm: exit 2', () => expectUserError(cli(['boot', '--kernel', kernelStub(), '--accel', 'kvm']), 2, /--accel/));
    it('--accel hvf where HVF is unusable: exit 4', function () {
      if (process.platform === 'darwin' && process.arch === 'arm64') this.skip();
      expectUserError(cli(['boot', '--kernel', kernelStub(), '--accel', 'hvf']), 4, /HVF is unavailable/);
    });
    it('missing kernel file: exit 3', () => expectUserError(cli(['boot', '--kernel', join(scratch, 'nope')]), 3, /kernel .*nope: not found/));
    it('kernel that is not an Image: exit 3', () => {
      const bad = join(scratch, 'not-an-image');
      writeFileSync(bad, 'hello, I am text\n'.repeat(10));
      expectUserError(cli(['boot', '--kernel', bad]), 3, /not an arm64 Linux Image/);
    });
    it('missing initrd: exit 3', () => expectUserError(cli(['boot', '--kernel', kernelStub(), '--initrd', join(scratch, 'none.cpio')]), 3, /initrd .*not found/));
    it('no --kernel and no default guest: exit 3, naming guest build', () =>
      expectUserError(cli(['boot']), 3, /nodevisor guest build/));
    it('run with no default guest: exit 3, naming guest build', () =>
      expectUserError(cli(['run', '--', 'true']), 3, /nodevisor guest build/));
    it('run without a command: exit 2', () => expectUserError(cli(['run', '--cpus', '1']), 2, /no command given/));
    it('bad config file: exit 2', () => {
      const cfg = join(scratch, 'bad.json');
      writeFileSync(cfg, '{"memroy": "1G"}');
      expectUserError(cli(['boot', '--config', cfg]), 2, /unknown key 'memroy'/);
    });
    it('--json adds one JSON error document on stdout', () => {
      const r = cli(['boot', '--kernel', join(scratch, 'nope'), '--json']);
      expect(r.code).to.equal(3);
      expect(JSON.parse(r.stdout)).to.deep.include({ error: { code: 3, name: 'CliError', message: `kernel ${join(scratch, 'nope')}: not found` } });
    });
    it('--log-level debug adds the stack trace', () => {
      const r = cli(['boot', '--kernel', join(scratch, 'nope'), '--log-level', 'debug']);
      expect(r.code).to.equal(3);
      expect(r.stderr).to.match(/^nodevisor: kernel .*not found\n/);
      expect(r.stderr).to.match(/^\s+at /m);
    });
  });

  describe('guest cache', () => {
    it('guest list with nothing built: text and --json', () => {
      expect(cli(['guest', 'list']).stdout).to.match(/no default guest in .*cache.*nodevisor guest build/);
      const r = cli(['guest', 'list', '--json']);
      expect(JSON.parse(r.stdout)).to.deep.equal({ cacheDir: emptyCache, built: false });
    });
    it('guest build without a source fails with exit 6 (no apt, no mirror)', () => {
      const r = cli(['guest', 'build', '--quiet', '--debs', join(scratch, 'no-debs-here')]);
      expectUserError(r, 6, /cannot read|holds no/);
    });
    it('guest clean --json', () => {
      expect(JSON.parse(cli(['guest', 'clean', '--json']).stdout)).to.deep.equal({ cacheDir: emptyCache, removed: false });
    });
  });

  describe('doctor', () => {
    it('--json reports the backend and the default guest', () => {
      const r = cli(['doctor', '--json']);
      expect(r.code, r.stderr).to.be.oneOf([0, 4]);
      const report = JSON.parse(r.stdout);
      expect(report.platform).to.equal(`${process.platform}-${process.arch}`);
      expect(report.backend).to.be.oneOf(['hvf', 'emu']);
      expect(report.guest).to.deep.equal({ cacheDir: emptyCache, built: false });
    });
  });

  describe('dtb', () => {
    let vmmPresent = true;
    before(async function () {
      try {
        await import('../../src/vmm/machine.ts');
      } catch {
        vmmPresent = false;
        this.skip();
      }
    });

    const cpuCount = (dtb: Uint8Array): number => findNode(parseFdt(dtb).root, '/cpus')!.children.filter((c) => c.name.startsWith('cpu@')).length;

    it('writes the DTB for the flags, config file underneath', () => {
      expect(vmmPresent).to.equal(true);
      const kernel = kernelStub();
      const cfg = join(scratch, 'vm.json');
      writeFileSync(cfg, JSON.stringify({ cpus: 2, memory: '256M', append: 'from=config' }));
      const out1 = join(scratch, 'a.dtb');
      const r1 = cli(['dtb', '--kernel', kernel, '--config', cfg, '--out', out1, '--json']);
      expect(r1.code, r1.stderr).to.equal(0);
      expect(JSON.parse(r1.stdout)).to.include({ out: out1 });
      const dtb1 = readFileSync(out1);
      expect(cpuCount(dtb1)).to.equal(2);
      expect(propString(findNode(parseFdt(dtb1).root, '/chosen')!.properties.get('bootargs')!)).to.equal('console=ttyAMA0 from=config');

      const out2 = join(scratch, 'b.dtb');
      const r2 = cli(['dtb', '--kernel', kernel, '--config', cfg, '--cpus', '3', '--append', 'console=hvc0', '--out', out2]);
      expect(r2.code, r2.stderr).to.equal(0);
      const dtb2 = readFileSync(out2);
      expect(cpuCount(dtb2)).to.equal(3);
      expect(propString(findNode(parseFdt(dtb2).root, '/chosen')!.properties.get('bootargs')!)).to.equal('console=hvc0');
    });
  });
});
