import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/errors.ts';
import {
  loadConfigFile,
  maxMemoryBytes,
  parseConsolePortSpec,
  parseDiskSpec,
  parseShareSpec,
  parseVsockSpec,
  resolveMachineConfig,
} from '../../src/config/machine-config.ts';
import { formatSize, parseSize } from '../../src/config/size.ts';

const MiB = 1024 * 1024;

describe('sizes', () => {
  it('parses binary suffixes and plain bytes', () => {
    expect(parseSize('512M')).to.equal(512 * MiB);
    expect(parseSize('2G')).to.equal(2048 * MiB);
    expect(parseSize('1024K')).to.equal(MiB);
    expect(parseSize('1g')).to.equal(1024 * MiB);
    expect(parseSize('64MiB')).to.equal(64 * MiB);
    expect(parseSize('67108864')).to.equal(64 * MiB);
    expect(parseSize(4096)).to.equal(4096);
  });
  it('rejects what is not a size', () => {
    for (const bad of ['', 'M', '1.5G', '-1M', '12X', '0x100', '1 2']) expect(() => parseSize(bad), bad).to.throw(ConfigError);
  });
  it('formats sizes for messages', () => {
    expect(formatSize(64 * MiB)).to.equal('64 MiB');
    expect(formatSize(1000)).to.equal('1000 bytes');
  });
});

describe('machine config', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nv-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('has defaults: 512 MiB, 1 vCPU, auto, nothing attached', () => {
    const c = resolveMachineConfig({});
    expect(c).to.deep.include({ memoryBytes: 512 * MiB, cpus: 1, accel: 'auto', append: '', noReboot: false });
    expect(c.disks).to.deep.equal([]);
  });

  it('validates memory: 16 KiB multiple, >= 64 MiB, within the IPA space', () => {
    expect(() => resolveMachineConfig({ memory: '100000' })).to.throw(ConfigError, /16 KiB/);
    expect(() => resolveMachineConfig({ memory: '32M' })).to.throw(ConfigError, /at least 64 MiB/);
    expect(() => resolveMachineConfig({ memory: '64G' })).to.throw(ConfigError, /IPA/);
    expect(resolveMachineConfig({ memory: '63G' }).memoryBytes).to.equal(maxMemoryBytes());
    expect(resolveMachineConfig({ memory: '65552K' }).memoryBytes).to.equal(65552 * 1024);
  });

  it('validates cpus and accel', () => {
    for (const bad of ['0', '124', '1.5', 'two', '']) expect(() => resolveMachineConfig({ cpus: bad }), bad).to.throw(ConfigError, /--cpus/);
    expect(resolveMachineConfig({ cpus: '123' }).cpus).to.equal(123);
    expect(() => resolveMachineConfig({ accel: 'kvm' })).to.throw(ConfigError, /--accel/);
  });

  it('parses device specs', () => {
    expect(parseDiskSpec('a.img,readonly')).to.deep.equal({ path: 'a.img', readonly: true });
    expect(() => parseDiskSpec('a.img,rw')).to.throw(ConfigError);
    expect(parseShareSpec('/src:code,ro')).to.deep.equal({ hostPath: '/src', tag: 'code', readonly: true });
    expect(() => parseShareSpec('/src')).to.throw(ConfigError);
    expect(() => parseShareSpec(`/src:${'t'.repeat(37)}`)).to.throw(ConfigError, /36/);
    expect(parseVsockSpec('1024:/tmp/v.sock')).to.deep.equal({ port: 1024, path: '/tmp/v.sock' });
    expect(() => parseVsockSpec('x:/tmp/v.sock')).to.throw(ConfigError);
  });

  it('parses console ports: NAME or NAME:SOCKET_PATH, names unique and not hvc0', () => {
    expect(parseConsolePortSpec('agent')).to.deep.equal({ name: 'agent' });
    expect(parseConsolePortSpec('org.qemu.guest_agent.0:/tmp/a:b.sock')).to.deep.equal({ name: 'org.qemu.guest_agent.0', path: '/tmp/a:b.sock' });
    expect(() => parseConsolePortSpec('agent:')).to.throw(ConfigError, /empty socket path/);
    expect(() => parseConsolePortSpec('bad name')).to.throw(ConfigError, /name/);
    expect(resolveMachineConfig({ consolePort: ['a', 'b:/tmp/b.sock'] }).consolePorts).to.deep.equal([{ name: 'a' }, { name: 'b', path: '/tmp/b.sock' }]);
    expect(() => resolveMachineConfig({ consolePort: ['a', 'a:/x'] })).to.throw(ConfigError, /repeated/);
    expect(() => resolveMachineConfig({ consolePort: ['hvc0'] })).to.throw(ConfigError, /reserved/);
    expect(() => resolveMachineConfig({ consolePort: Array.from({ length: 31 }, (_, i) => `p${i}`) })).to.throw(ConfigError, /at most 30/);
  });

  it('reads console ports from a config file, as strings or objects, paths relative to the file', () => {
    const path = join(dir, 'ports.json');
    writeFileSync(path, JSON.stringify({ consolePort: ['log:log.sock', { name: 'ctl', path: 'ctl.sock' }, { name: 'bare' }] }));
    const cfg = resolveMachineConfig({}, loadConfigFile(path));
    expect(cfg.consolePorts).to.deep.equal([
      { name: 'log', path: join(dir, 'log.sock') },
      { name: 'ctl', path: join(dir, 'ctl.sock') },
      { name: 'bare' },
    ]);
    writeFileSync(path, JSON.stringify({ 'console-port': [{ name: 7 }] }));
    expect(() => loadConfigFile(path)).to.throw(ConfigError, /consolePort\[\]\.name/);
  });

  it('merges a config file under the flags, resolving its paths against its folder', () => {
    const path = join(dir, 'vm.json');
    writeFileSync(
      path,
      JSON.stringify({
        kernel: 'Image',
        memory: '1G',
        cpus: 2,
        'no-reboot': true,
        disk: ['root.img', { path: 'data.img', readonly: true }],
        share: [{ hostPath: 'src', tag: 'src' }],
        vsock: ['5000:v.sock'],
        trace: ['gic'],
      }),
    );
    const file = loadConfigFile(path);
    const fromFile = resolveMachineConfig({}, file);
    expect(fromFile.kernel).to.equal(join(dir, 'Image'));
    expect(fromFile.memoryBytes).to.equal(1024 * MiB);
    expect(fromFile.cpus).to.equal(2);
    expect(fromFile.noReboot).to.equal(true);
    expect(fromFile.disks).to.deep.equal([
      { path: join(dir, 'root.img'), readonly: false },
      { path: join(dir, 'data.img'), readonly: true },
    ]);
    expect(fromFile.shares).to.deep.equal([{ hostPath: join(dir, 'src'), tag: 'src', readonly: false }]);
    expect(fromFile.vsock).to.deep.equal([{ port: 5000, path: join(dir, 'v.sock') }]);
    expect(file.trace).to.deep.equal(['gic']);

    const merged = resolveMachineConfig({ kernel: '/k', cpus: '4', disk: ['other.img'], noReboot: false }, file);
    expect(merged.kernel).to.equal('/k');
    expect(merged.cpus).to.equal(4);
    expect(merged.memoryBytes).to.equal(1024 * MiB);
    expect(merged.disks).to.deep.equal([{ path: 'other.img', readonly: false }]);
    expect(merged.noReboot).to.equal(false);
  });

  it('rejects unknown keys, bad types and bad JSON', () => {
    const write = (s: string): string => {
      const p = join(dir, `c${Math.random()}.json`);
      writeFileSync(p, s);
      return p;
    };
    expect(() => loadConfigFile(write('{"kernal": "x"}'))).to.throw(ConfigError, /unknown key 'kernal'/);
    expect(() => loadConfigFile(write('{"cpus": "2"}'))).to.throw(ConfigError, /cpus/);
    expect(() => loadConfigFile(write('{"disk": "a.img"}'))).to.throw(ConfigError, /list/);
    expect(() => loadConfigFile(write('{nope'))).to.throw(ConfigError, /not valid JSON/);
    expect(() => loadConfigFile(write('[1]'))).to.throw(ConfigError, /object/);
    expect(() => loadConfigFile(join(dir, 'missing.json'))).to.throw(ConfigError, /ENOENT/);
  });
});
