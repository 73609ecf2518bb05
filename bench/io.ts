// `npm run bench -- --only blk|fs`: sequential and random 4 KiB I/O measured inside the guest
// (bench/guest/iobench.c, built static here) on nodevisor's software CPU and on QEMU TCG.
//   blk: a raw scratch disk on virtio-blk; the tool arrives on a second, ext4 disk.
//   fs:  a file on a virtio-fs share that also holds the tool; QEMU gets the same share
//        through its vhost-user-fs device and QEMU's virtiofsd (nodevisor-only without it).
//        Buffered I/O on both: the guest kernel refuses O_DIRECT on QEMU 7.2's virtiofsd.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { headline, IO_PHASES, parseIoBench, type IoResult } from './io-report.ts';
import { runNodevisor, runQemu, type Guest, type RunOptions, type Sample } from './runners.ts';

const SOURCE = fileURLToPath(new URL('./guest/iobench.c', import.meta.url));
const APPEND = 'console=ttyAMA0 cryptomgr.notests';
const SEQ_MIB = 32;
const RAND_OPS = 4000;
const RAND_SECONDS = 10;
const TOOL_DISK_MIB = 8;
const SCRATCH_MIB = SEQ_MIB;
const VIRTIOFSD = ['/usr/lib/qemu/virtiofsd', '/usr/libexec/virtiofsd'];
const MEMORY_MIB = 512;
// nodevisor's transport is virtio-mmio version 2; QEMU's virt board defaults to legacy (v1),
// which its vhost-user devices refuse.
const MODERN = ['-global', 'virtio-mmio.force-legacy=false'];
const QEMU_TIMEOUT_S = 600;

function buildTool(dir: string): string {
  const out = join(dir, 'iobench');
  execFileSync('aarch64-linux-gnu-gcc', ['-static', '-O2', '-o', out, SOURCE], { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

function toolRun(path: string, buffered = false): string {
  return `/tmp/iobench ${path} ${SEQ_MIB} ${RAND_OPS} ${RAND_SECONDS}${buffered ? ' buffered' : ''}`;
}

/** The guest finds its disks by size: the tool disk and the scratch disk differ. */
function blkScript(): string {
  return [
    'tool=; scratch=',
    'for b in /sys/block/vd*; do s=$(cat $b/size); d=/dev/${b##*/};',
    `  [ "$s" = ${TOOL_DISK_MIB * 2048} ] && tool=$d; [ "$s" = ${SCRATCH_MIB * 2048} ] && scratch=$d; done`,
    '[ -n "$tool" ] && [ -n "$scratch" ] || { echo "disks not found"; ls /sys/block; exit 20; }',
    'mount -t ext4 -o ro $tool /mnt || exit 21',
    'cp /mnt/iobench /tmp/iobench && umount /mnt || exit 22',
    `${toolRun('$scratch')} || exit 23`,
  ].join('\n');
}

function fsScript(tag: string): string {
  return [
    `mount -t virtiofs ${tag} /mnt || exit 21`,
    'cp /mnt/iobench /tmp/iobench || exit 22',
    `${toolRun('/mnt/iobench.dat', true)} || exit 23`,
    'rm -f /mnt/iobench.dat; umount /mnt',
  ].join('\n');
}

function checked(side: string, s: Sample): Map<string, IoResult> {
  const r = parseIoBench(s.output);
  if (s.status !== 0 || r.size !== IO_PHASES.length) throw new Error(`bench ${side}: guest status ${s.status}, output:\n${s.output}`);
  return r;
}

function fmt(r: IoResult | undefined): string {
  if (!r) return 'n/a';
  const h = headline(r);
  return h.value === undefined ? 'n/a' : `${h.value.toFixed(h.unit === 'IOPS' ? 0 : 2)} ${h.unit}`;
}

function table(title: string, ours: Map<string, IoResult>, theirs: Map<string, IoResult> | undefined, note: string): void {
  console.log(title);
  const rows = [['phase', 'nodevisor', 'qemu', 'ratio (qemu / nodevisor)', 'direct I/O (nodevisor / qemu)']];
  for (const p of IO_PHASES) {
    const a = ours.get(p);
    const b = theirs?.get(p);
    const av = a && headline(a).value;
    const bv = b && headline(b).value;
    rows.push([p, fmt(a), theirs ? fmt(b) : note, av && bv ? (bv / av).toFixed(1) : '', `${a?.direct ?? '-'} / ${b?.direct ?? '-'}`]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log('  ' + r.map((c, i) => c.padEnd(widths[i])).join('  '));
}

export async function benchBlk(guest: Guest, cpus: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nodevisor-bench-blk-'));
  try {
    const toolDir = join(dir, 'tool');
    mkdirSync(toolDir);
    buildTool(toolDir);
    const toolImg = join(dir, 'tool.img');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', toolDir, toolImg, `${TOOL_DISK_MIB}M`], { stdio: ['ignore', 'ignore', 'inherit'] });
    const scratch = join(dir, 'scratch.img');
    const fresh = (): void => { writeFileSync(scratch, ''); truncateSync(scratch, SCRATCH_MIB << 20); };
    const opts = (): RunOptions => ({
      append: APPEND,
      memoryMiB: MEMORY_MIB,
      qemuTimeoutSeconds: QEMU_TIMEOUT_S,
      devices: { disks: [{ path: toolImg, readonly: true }, { path: scratch, readonly: false }] },
      qemuArgs: [...MODERN, '-drive', `file=${toolImg},if=none,id=d0,format=raw,readonly=on`, '-device', 'virtio-blk-device,drive=d0',
        '-drive', `file=${scratch},if=none,id=d1,format=raw`, '-device', 'virtio-blk-device,drive=d1'],
    });
    // QEMU first: it is quick, so a broken setup shows before the long software-CPU boot.
    fresh();
    const theirs = checked('blk qemu', await runQemu(guest, cpus, blkScript(), opts()));
    fresh();
    const ours = checked('blk nodevisor', await runNodevisor(guest, cpus, blkScript(), opts()));
    table(`bench blk: virtio-blk raw ${SCRATCH_MIB} MiB disk, 1 MiB sequential, 4 KiB random (<= ${RAND_OPS} ops or ${RAND_SECONDS} s), measured in the guest`, ours, theirs, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * QEMU's virtiofsd (Debian's qemu-system-common ships it) on SOCKET serving DIR, once its
 * socket exists; undefined when it is missing or will not start (its chroot sandbox needs root).
 */
async function startVirtiofsd(socket: string, dir: string): Promise<ChildProcess | undefined> {
  const bin = VIRTIOFSD.find((p) => existsSync(p));
  if (!bin) return undefined;
  const p = spawn(bin, [`--socket-path=${socket}`, '-o', `source=${dir}`, '-o', 'cache=auto', '-o', 'sandbox=chroot'], { stdio: ['ignore', 'ignore', 'ignore'] });
  p.on('error', () => undefined);
  for (let i = 0; i < 100 && !existsSync(socket) && p.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(socket)) {
    p.kill();
    return undefined;
  }
  return p;
}

export async function benchFs(guest: Guest, cpus: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nodevisor-bench-fs-'));
  const tag = 'bench';
  try {
    const share = join(dir, 'share');
    mkdirSync(share);
    buildTool(share);
    const base: RunOptions = { append: APPEND, memoryMiB: MEMORY_MIB, qemuTimeoutSeconds: QEMU_TIMEOUT_S };
    const socket = join(dir, 'virtiofsd.sock');
    const daemon = await startVirtiofsd(socket, share);
    let theirs: Map<string, IoResult> | undefined;
    if (daemon) {
      try {
        theirs = checked('fs qemu', await runQemu(guest, cpus, fsScript(tag), {
          ...base,
          // vhost-user needs guest RAM the daemon can map: a shared memfd backend.
          qemuArgs: [...MODERN, '-object', `memory-backend-memfd,id=mem,size=${MEMORY_MIB}M,share=on`, '-machine', 'memory-backend=mem',
            '-chardev', `socket,id=vfs,path=${socket}`, '-device', `vhost-user-fs-device,chardev=vfs,tag=${tag}`],
        }));
      } finally {
        daemon.kill();
      }
    }
    const ours = checked('fs nodevisor', await runNodevisor(guest, cpus, fsScript(tag), { ...base, devices: { shares: [{ hostPath: share, tag, readonly: false }] } }));
    table(`bench fs: virtio-fs share, ${SEQ_MIB} MiB file, 1 MiB sequential, 4 KiB random (<= ${RAND_OPS} ops or ${RAND_SECONDS} s), measured in the guest`,
      ours, theirs, 'no virtiofsd (needs root)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
