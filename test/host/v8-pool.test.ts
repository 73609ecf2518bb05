import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NODE_DEFAULT_POOL_SIZE, vmmNodeOptions } from '../../src/host/v8-pool.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/relaunch-child.mts', import.meta.url));

interface Report { pid: number; ppid: number; execArgv: string[] }

/** Start the fixture (through tsx, as the sources run); resolves its first report line, and its end. */
function start(arg: string): { launcher: ReturnType<typeof spawn>; report: Promise<Report>; ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const launcher = spawn(process.execPath, ['--import', 'tsx', FIXTURE, arg], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const report = new Promise<Report>((resolve, reject) => {
    launcher.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined && out.includes('\n')) resolve(JSON.parse(line) as Report);
    });
    launcher.on('exit', () => reject(new Error(`no report: ${out}`)));
  });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => launcher.on('exit', (code, signal) => resolve({ code, signal })));
  return { launcher, report, ended };
}

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true; } catch { return false; }
};

async function until(what: () => boolean, ms: number): Promise<boolean> {
  for (const t0 = Date.now(); Date.now() - t0 < ms; await new Promise((r) => setTimeout(r, 50))) if (what()) return true;
  return what();
}

describe('V8 worker pool of VMM processes', function () {
  this.timeout(20000);

  it('leaves the vCPU thread a core: cores - 1 workers where that is below Node\'s 4', () => {
    const on = (cores: number) => vmmNodeOptions({ cores, execArgv: [], nodeOptions: '' });
    expect(on(1)).to.deep.equal(['--v8-pool-size=1']);
    expect(on(2)).to.deep.equal(['--v8-pool-size=1']);
    expect(on(3)).to.deep.equal(['--v8-pool-size=2']);
    expect(on(4)).to.deep.equal(['--v8-pool-size=3']);
    expect(on(NODE_DEFAULT_POOL_SIZE + 1)).to.deep.equal([]);
    expect(on(64)).to.deep.equal([]);
  });

  it('keeps a pool size the user gave, in the options or in NODE_OPTIONS', () => {
    expect(vmmNodeOptions({ cores: 2, execArgv: ['--v8-pool-size=3'], nodeOptions: '' })).to.deep.equal([]);
    expect(vmmNodeOptions({ cores: 2, execArgv: ['--v8-pool-size', '3'], nodeOptions: '' })).to.deep.equal([]);
    expect(vmmNodeOptions({ cores: 2, execArgv: [], nodeOptions: '--max-old-space-size=512 --v8-pool-size=2' })).to.deep.equal([]);
    expect(vmmNodeOptions({ cores: 2, execArgv: ['--import', 'tsx'], nodeOptions: '--max-old-space-size=512' })).to.deep.equal(['--v8-pool-size=1']);
  });

  it('the relaunched process runs with the pool, under the launcher, and the launcher ends with its exit code', async () => {
    const wanted = vmmNodeOptions();
    const { report, ended } = start('7');
    const r = await report;
    for (const flag of wanted) expect(r.execArgv).to.include(flag);
    if (wanted.length === 0) expect(r.execArgv.some((a) => a.startsWith('--v8-pool-size'))).to.equal(false);
    expect((await ended).code).to.equal(7);
  });

  it('a signal to the launcher ends the VMM process, and the launcher as it did', async function () {
    if (vmmNodeOptions().length === 0) this.skip(); // enough cores: nothing is relaunched here
    const { launcher, report, ended } = start('wait');
    const r = await report;
    expect(r.ppid).to.equal(launcher.pid);
    launcher.kill('SIGTERM');
    expect(await ended).to.deep.equal({ code: null, signal: 'SIGTERM' });
    expect(await until(() => !alive(r.pid), 10000), 'the relaunched process is gone').to.equal(true);
  });

  it('a launcher killed outright (SIGKILL) does not leave the VMM process running', async function () {
    if (vmmNodeOptions().length === 0) this.skip();
    const { launcher, report, ended } = start('wait');
    const r = await report;
    launcher.kill('SIGKILL');
    await ended;
    expect(await until(() => !alive(r.pid), 10000), 'the orphan ended itself').to.equal(true);
  });
});
