// `nodevisor guest build|list|clean`: the default guest (Debian arm64 kernel + busybox initramfs).
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { ExitCode } from '../exit-codes.ts';
import type { CommandResult } from '../main.ts';
import { makeLogger, notice, printJson, type GlobalArgv } from './common.ts';

type GuestArgv = GlobalArgv & { quiet?: boolean; mirror?: string; suite?: string; debs?: string };

export function guestCommand(result: CommandResult): CommandModule<object, GuestArgv> {
  return {
    command: 'guest',
    describe: 'manage the default guest: build, list, clean',
    builder: (y) =>
      y
        .command({
          command: 'build',
          describe: 'fetch Debian 12 arm64 linux-image + busybox-static and build Image + initramfs in the cache',
          builder: (b) =>
            b
              .option('mirror', { type: 'string', requiresArg: true, describe: 'Debian mirror URL (or NODEVISOR_DEBIAN_MIRROR); default: apt on Debian hosts' })
              .option('suite', { type: 'string', requiresArg: true, describe: 'Debian suite for --mirror [default: bookworm]' })
              .option('debs', { type: 'string', requiresArg: true, describe: 'use the .deb files in this folder instead of downloading' })
              .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress display' }),
          handler: async (argv: ArgumentsCamelCase<GuestArgv>) => {
            const logger = makeLogger(argv);
            try {
              const { buildDefaultGuest } = await import('../../guest/builder.ts');
              const { createProgress } = await import('../../guest/progress.ts');
              const { guestCacheDir } = await import('../../guest/cache.ts');
              const progress = createProgress(process.stderr.isTTY === true && !argv.json && !argv.quiet);
              const manifest = await buildDefaultGuest({ mirror: argv.mirror, suite: argv.suite, debsDir: argv.debs, progress, notice });
              if (argv.json) printJson({ cacheDir: guestCacheDir(), ...manifest });
              else if (!argv.quiet) process.stderr.write(`nodevisor: default guest built in ${guestCacheDir()} (kernel ${manifest.kernelRelease}, ${manifest.modules.length} modules)\n`);
              result.exitCode = ExitCode.Ok;
            } finally {
              await logger.close();
            }
          },
        })
        .command({
          command: 'list',
          describe: 'show the default guest in the cache (versions, hashes)',
          handler: async (argv: ArgumentsCamelCase<GuestArgv>) => {
            const { findDefaultGuest, guestCacheDir } = await import('../../guest/cache.ts');
            const dir = guestCacheDir();
            const guest = findDefaultGuest(dir);
            if (argv.json) {
              printJson(guest ? { cacheDir: dir, built: true, kernel: guest.kernel, initrd: guest.initrd, manifest: guest.manifest } : { cacheDir: dir, built: false });
            } else if (!guest) {
              process.stdout.write(`no default guest in ${dir} (run: nodevisor guest build)\n`);
            } else {
              const m = guest.manifest;
              const lines = [
                `cache:    ${dir}`,
                `built:    ${m.builtAt} (from ${m.source})`,
                `kernel:   ${guest.kernel} (${m.kernelRelease}, ${m.kernel.size} bytes, sha256 ${m.kernel.sha256})`,
                `initrd:   ${guest.initrd} (${m.initrd.size} bytes, sha256 ${m.initrd.sha256})`,
                ...m.packages.map((p) => `package:  ${p.name} ${p.version}`),
                `modules:  ${m.modules.map((p) => p.slice(p.lastIndexOf('/') + 1)).join(' ')}`,
              ];
              process.stdout.write(lines.join('\n') + '\n');
            }
            result.exitCode = ExitCode.Ok;
          },
        })
        .command({
          command: 'clean',
          describe: 'remove the default guest cache',
          handler: async (argv: ArgumentsCamelCase<GuestArgv>) => {
            const { cleanGuestCache, guestCacheDir } = await import('../../guest/cache.ts');
            const dir = guestCacheDir();
            const removed = cleanGuestCache(dir);
            if (argv.json) printJson({ cacheDir: dir, removed });
            else process.stderr.write(`nodevisor: ${removed ? 'removed' : 'nothing to remove in'} ${dir}\n`);
            result.exitCode = ExitCode.Ok;
          },
        })
        .demandCommand(1, 'guest needs an action: build, list or clean') as never,
    handler: () => {},
  };
}
