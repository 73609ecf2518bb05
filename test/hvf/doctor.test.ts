import { expect } from 'chai';
import {
  createEntitledNode,
  entitledNodePath,
  formatAddonReport,
  formatDoctorReport,
  formatHvfReport,
  gatherAddonReport,
  gatherHvfReport,
  parseEntitlements,
  parseProbe,
  parseSwVers,
  parseSysctlFlag,
  selectNodeForHvf,
  reexecUnderEntitledNode,
  type CommandResult,
  type DoctorHost,
} from '../../src/cli/doctor.ts';

const NEW_FORMAT = `Executable=/opt/node/bin/node
[Dict]
\t[Key] com.apple.security.cs.allow-jit
\t[Value]
\t\t[Bool] true
\t[Key] com.apple.security.hypervisor
\t[Value]
\t\t[Bool] true
`;
const XML_FORMAT = `Executable=/x/node
<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd"><plist version="1.0"><dict><key>com.apple.security.hypervisor</key><true/></dict></plist>`;
const NODEJS_ORG = `Executable=/usr/local/bin/node
[Dict]
\t[Key] com.apple.security.cs.allow-jit
\t[Value]
\t\t[Bool] true
\t[Key] com.apple.security.cs.disable-library-validation
\t[Value]
\t\t[Bool] true
`;

const ok = (stdout: string): CommandResult => ({ status: 0, stdout, stderr: '' });

interface FakeHostOptions {
  platform?: string;
  arch?: string;
  entitlements?: Record<string, string>;
  sysctl?: CommandResult;
  probe?: CommandResult;
  /** Probe answers of other node binaries (e.g. the entitled copy). */
  probeBy?: Record<string, CommandResult>;
  addon?: { path: string } | { error: string };
  files?: Set<string>;
}

function fakeHost(o: FakeHostOptions = {}) {
  const calls: string[][] = [];
  const files = o.files ?? new Set<string>(['/usr/local/bin/node']);
  const written = new Map<string, string>();
  const signed = new Set<string>();
  const host: DoctorHost = {
    platform: o.platform ?? 'darwin',
    arch: o.arch ?? 'arm64',
    execPath: '/usr/local/bin/node',
    nodeVersion: 'v20.19.0',
    homeDir: '/Users/me',
    run(command, args) {
      calls.push([command, ...args]);
      if (command === 'sw_vers') return ok('15.1\n');
      if (command === 'sysctl') return o.sysctl ?? ok('1\n');
      if (command === 'codesign' && args[0] === '-d') {
        const target = args[args.length - 1];
        if (signed.has(target)) return { status: 0, stdout: '', stderr: XML_FORMAT };
        return ok(o.entitlements?.[target] ?? NODEJS_ORG);
      }
      if (command === 'codesign' && args[0] === '--force') {
        signed.add(args[args.length - 1]);
        return ok('');
      }
      if (o.probeBy?.[command]) return o.probeBy[command];
      if (command === host.execPath) return o.probe ?? ok(JSON.stringify({ ok: true, caps: { maxIpaBits: 40, maxVcpus: 64, inKernelGic: true, defaultIpaBits: 36, pageSize: 16384, ipaConfigurable: true, el2Supported: false } }));
      return { status: 127, stdout: '', stderr: '', error: `ENOENT ${command}` };
    },
    findAddon: () => o.addon ?? { path: '/pkg/build/Release/nodevisor_hvf.node' },
    exists: (p) => files.has(p),
    realpath: (p) => p,
    mkdir: () => {},
    copyFile: (_from, to) => { files.add(to); },
    writeFile: (p, t) => { written.set(p, t); files.add(p); },
    chmod: () => {},
  };
  return { host, calls, written, files };
}

describe('nodevisor doctor (HVF report)', () => {
  describe('parsing', () => {
    it('reads the entitlement from both codesign output formats', () => {
      expect(parseEntitlements(NEW_FORMAT)).to.deep.equal({ signed: true, hypervisor: true });
      expect(parseEntitlements(XML_FORMAT)).to.deep.equal({ signed: true, hypervisor: true });
      expect(parseEntitlements(NODEJS_ORG)).to.deep.equal({ signed: true, hypervisor: false });
      expect(parseEntitlements('/x/node: code object is not signed at all')).to.deep.equal({ signed: false, hypervisor: false });
      expect(parseEntitlements('[Dict]\n\t[Key] com.apple.security.hypervisor\n\t[Value]\n\t\t[Bool] false\n')).to.have.property('hypervisor', false);
    });

    it('reads sw_vers and kern.hv_support', () => {
      expect(parseSwVers('15.1\n')).to.equal('15.1');
      expect(parseSwVers('11.7.10')).to.equal('11.7.10');
      expect(parseSwVers('garbage')).to.equal(undefined);
      expect(parseSysctlFlag(ok('1\n'))).to.equal(true);
      expect(parseSysctlFlag(ok('0\n'))).to.equal(false);
      expect(parseSysctlFlag({ status: 1, stdout: '', stderr: 'sysctl: unknown oid \'kern.hv_support\'' })).to.equal(undefined);
    });

    it('reads the child-process VM probe, including a crash', () => {
      expect(parseProbe(ok('{"ok":false,"hvName":"HV_DENIED","message":"hv_vm_create failed: HV_DENIED"}'))).to.deep.equal({ ok: false, hvName: 'HV_DENIED', message: 'hv_vm_create failed: HV_DENIED' });
      const crash = parseProbe({ status: null, stdout: '', stderr: 'dyld: Symbol not found' });
      expect(crash.ok).to.equal(false);
      expect(crash.message).to.contain('Symbol not found');
    });
  });

  describe('report', () => {
    it('on Linux says HVF is unavailable, why, and that the software CPU is used', () => {
      const { host, calls } = fakeHost({ platform: 'linux', arch: 'x64' });
      const r = gatherHvfReport(host);
      expect(r.hvfUsable).to.equal(false);
      expect(r.backend).to.equal('emu');
      expect(r.ok).to.equal(true);
      expect(r.problems.join(' ')).to.contain('linux-x64').and.contain('Apple Silicon');
      expect(formatHvfReport(r)).to.contain('software AArch64 CPU');
      expect(calls).to.deep.equal([]);
    });

    it('reports a working setup with IPA size, vCPU count and GIC, probing in a child process', () => {
      const { host, calls } = fakeHost({ entitlements: { '/usr/local/bin/node': NEW_FORMAT } });
      const r = gatherHvfReport(host);
      expect(r).to.include({ ok: true, hvfUsable: true, backend: 'hvf', macosVersion: '15.1', hvSupport: true, maxIpaBits: 40, maxVcpus: 64, inKernelGic: true });
      expect(r.problems).to.deep.equal([]);
      const probe = calls.find((c) => c[0] === '/usr/local/bin/node');
      expect(probe?.[1]).to.equal('-e');
      expect(probe?.[2]).to.contain('vmCreate').and.contain('vmDestroy').and.contain('/pkg/build/Release/nodevisor_hvf.node');
      expect(formatHvfReport(r)).to.contain('hv_vm_create:        works');
    });

    it('explains a missing entitlement (HV_DENIED from the probe)', () => {
      const { host } = fakeHost({ probe: ok('{"ok":false,"hvName":"HV_DENIED","message":"hv_vm_create failed: HV_DENIED"}') });
      const r = gatherHvfReport(host);
      expect(r.hvfUsable).to.equal(false);
      expect(r.ok).to.equal(false);
      expect(r.entitlement).to.include({ hypervisor: false, signed: true });
      expect(r.advice.join('\n')).to.contain('nodevisor doctor --sign');
      expect(r.problems.join('\n')).to.contain('com.apple.security.hypervisor').and.contain('HV_DENIED');
      expect(r.advice.join('\n')).to.contain('entitled copy');
    });

    it('after `doctor --sign`, probes under the entitled copy the CLI will use', () => {
      const copy = entitledNodePath('/Users/me', 'v20.19.0');
      const { host, calls } = fakeHost({
        files: new Set(['/usr/local/bin/node', copy]),
        entitlements: { [copy]: NEW_FORMAT },
        probe: ok('{"ok":false,"hvName":"HV_DENIED","message":"hv_vm_create failed: HV_DENIED"}'),
        probeBy: { [copy]: ok(JSON.stringify({ ok: true, caps: { maxIpaBits: 40, maxVcpus: 64, inKernelGic: true, defaultIpaBits: 36, pageSize: 16384, ipaConfigurable: true, el2Supported: false } })) },
      });
      const r = gatherHvfReport(host, {});
      expect(r.entitledCopy).to.equal(copy);
      expect(calls.some((c) => c[0] === copy && c[1] === '-e')).to.equal(true);
      expect(calls.some((c) => c[0] === '/usr/local/bin/node' && c[1] === '-e')).to.equal(false);
      expect(r).to.include({ hvfUsable: true, ok: true, backend: 'hvf', maxVcpus: 64, maxIpaBits: 40 });
      expect(r.problems).to.deep.equal([]);
      expect(formatHvfReport(r)).to.contain(`entitled copy:       ${copy}`);
    });

    it('recognises a macOS VM such as a GitHub-hosted runner', () => {
      const { host } = fakeHost({
        sysctl: { status: 1, stdout: '', stderr: "sysctl: unknown oid 'kern.hv_support'" },
        probe: ok('{"ok":false,"hvName":"HV_UNSUPPORTED","message":"hv_vm_create failed: HV_UNSUPPORTED"}'),
      });
      const r = gatherHvfReport(host);
      expect(r.hvSupport).to.equal(undefined);
      expect(r.problems.join('\n')).to.contain('GitHub-hosted runner');
      expect(r.inKernelGic).to.equal(undefined);
    });

    it('reports an addon that does not load', () => {
      const { host, calls } = fakeHost({ addon: { error: 'Hypervisor.framework backend unavailable on darwin-arm64: no loadable addon' } });
      const r = gatherHvfReport(host);
      expect(r.addon?.error).to.contain('no loadable addon');
      expect(r.vmCreate).to.equal(undefined);
      expect(calls.some((c) => c[0] === '/usr/local/bin/node')).to.equal(false);
    });
  });

  describe('native addons', () => {
    it('reports each addon as loaded, or not with the loader\'s reason, in text and JSON', () => {
      const r = gatherAddonReport({
        netdev: () => ({}),
        hostfs: () => {
          throw new Error('needs the nodevisor_hostfs native addon; tried /p/native/hostfs/build/Release/nodevisor_hostfs.node (missing)');
        },
      });
      expect(r.netdev).to.deep.equal({ loaded: true });
      expect(r.hostfs.loaded).to.equal(false);
      expect(r.hostfs.error).to.match(/tried \/p\/native\/hostfs\/build\/Release\/nodevisor_hostfs\.node \(missing\)/);
      const text = formatAddonReport(r).split('\n');
      expect(text).to.have.length(2);
      expect(text[0]).to.equal('netdev addon:        loaded');
      expect(text[1]).to.match(/^hostfs addon:        not loaded \(virtio-fs shares have no xattrs.*\): needs the nodevisor_hostfs/);
      const { host } = fakeHost({ platform: 'linux', arch: 'x64' });
      const full = formatDoctorReport({ ...gatherHvfReport(host), addons: r });
      expect(full).to.match(/\nbackend:[^\n]*\nnetdev addon: +loaded\nhostfs addon: +not loaded[^\n]*\nproblem: /);
      expect(JSON.parse(JSON.stringify({ addons: r })).addons.hostfs.loaded).to.equal(false);
    });
  });

  describe('entitled copy of node', () => {
    it('copies node to a per-user directory and ad-hoc signs the copy, never the original', () => {
      const { host, calls, written } = fakeHost();
      const copy = createEntitledNode(host);
      expect(copy).to.equal(entitledNodePath('/Users/me', 'v20.19.0'));
      expect(copy.startsWith('/Users/me/Library/Application Support/nodevisor/')).to.equal(true);
      const sign = calls.find((c) => c[0] === 'codesign' && c[1] === '--force')!;
      expect(sign).to.deep.equal(['codesign', '--force', '--sign', '-', '--entitlements', copy.replace(/node$/, 'hypervisor.entitlements'), copy]);
      expect(calls.some((c) => c[0] === 'codesign' && c[1] === '--force' && c.includes('/usr/local/bin/node'))).to.equal(false);
      expect([...written.values()][0]).to.contain('<key>com.apple.security.hypervisor</key>');
    });

    it('fails when codesign fails', () => {
      const { host } = fakeHost();
      const run = host.run;
      host.run = (c, a, t) => (c === 'codesign' && a[0] === '--force' ? { status: 1, stdout: '', stderr: 'no identity' } : run(c, a, t));
      expect(() => createEntitledNode(host)).to.throw(/codesign failed.*no identity/);
    });

    it('tells the CLI which node to run under', () => {
      const plain = fakeHost();
      expect(selectNodeForHvf(plain.host, {})).to.deep.include({ reexec: false, execPath: '/usr/local/bin/node' });
      const copy = entitledNodePath('/Users/me', 'v20.19.0');
      const withCopy = fakeHost({ files: new Set([copy]), entitlements: { [copy]: NEW_FORMAT } });
      expect(selectNodeForHvf(withCopy.host, {})).to.deep.include({ reexec: true, execPath: copy });
      expect(selectNodeForHvf(withCopy.host, { NODEVISOR_NO_REEXEC: '1' })).to.deep.include({ reexec: false });
      const entitled = fakeHost({ entitlements: { '/usr/local/bin/node': NEW_FORMAT } });
      expect(selectNodeForHvf(entitled.host, {})).to.deep.include({ reexec: false, execPath: '/usr/local/bin/node' });
      const linux = fakeHost({ platform: 'linux', arch: 'x64' });
      expect(selectNodeForHvf(linux.host, {}).reexec).to.equal(false);
    });

    it('re-runs the command under the entitled copy once, and not when none is needed', () => {
      const copy = entitledNodePath('/Users/me', 'v20.19.0');
      const withCopy = fakeHost({ files: new Set([copy]), entitlements: { [copy]: NEW_FORMAT } });
      const spawned: { execPath: string; args: readonly string[]; env: Record<string, string | undefined> }[] = [];
      const spawn = (execPath: string, args: readonly string[], env: Record<string, string | undefined>) => {
        spawned.push({ execPath, args, env });
        return 3;
      };
      const argv = ['/usr/local/bin/node', '/opt/nodevisor/bin/nodevisor.js', 'run', '--', 'uname'];
      expect(reexecUnderEntitledNode(withCopy.host, { argv, execArgv: ['--no-warnings'], env: { HOME: '/Users/me' }, spawn })).to.equal(3);
      expect(spawned).to.have.length(1);
      expect(spawned[0].execPath).to.equal(copy);
      expect(spawned[0].args).to.deep.equal(['--no-warnings', '/opt/nodevisor/bin/nodevisor.js', 'run', '--', 'uname']);
      expect(spawned[0].env).to.include({ HOME: '/Users/me', NODEVISOR_NO_REEXEC: '1' });
      // The child itself (NODEVISOR_NO_REEXEC=1), an entitled node and Linux carry on in-process.
      expect(reexecUnderEntitledNode(withCopy.host, { argv, env: { NODEVISOR_NO_REEXEC: '1' }, spawn })).to.equal(undefined);
      const entitled = fakeHost({ entitlements: { '/usr/local/bin/node': NEW_FORMAT } });
      expect(reexecUnderEntitledNode(entitled.host, { argv, env: {}, spawn })).to.equal(undefined);
      expect(reexecUnderEntitledNode(fakeHost({ platform: 'linux', arch: 'x64' }).host, { argv, env: {}, spawn })).to.equal(undefined);
      expect(spawned).to.have.length(1);
    });
  });
});
