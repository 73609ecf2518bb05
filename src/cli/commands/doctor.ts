// `nodevisor doctor`: can this machine run guests? The HVF checks (availability,
// entitlement, signing) live in src/cli/doctor.ts; this file wires the command and adds
// the default guest's state. The checks are imported on use, like every command's work.
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { CliError } from '../errors.ts';
import { ExitCode } from '../exit-codes.ts';
import type { CommandResult } from '../main.ts';
import { printJson, type GlobalArgv } from './common.ts';

type DoctorArgv = GlobalArgv & { sign?: boolean };

async function guestState(): Promise<{ cacheDir: string; built: boolean; kernelRelease?: string }> {
  const { findDefaultGuest, guestCacheDir } = await import('../../guest/cache.ts');
  const cacheDir = guestCacheDir();
  try {
    const g = findDefaultGuest(cacheDir);
    return g ? { cacheDir, built: true, kernelRelease: g.manifest.kernelRelease } : { cacheDir, built: false };
  } catch {
    return { cacheDir, built: false };
  }
}

export function doctorCommand(result: CommandResult): CommandModule<object, DoctorArgv> {
  return {
    command: 'doctor',
    describe: 'check the accelerator (HVF entitlement and signing on macOS) and the default guest',
    builder: (y) => y.option('sign', { type: 'boolean', describe: 'macOS: make an ad-hoc signed copy of node with the hypervisor entitlement' }) as never,
    handler: async (argv: ArgumentsCamelCase<DoctorArgv>) => {
      const doctor = await import('../doctor.ts');
      let signed: string | undefined;
      if (argv.sign) {
        if (process.platform !== 'darwin') throw new CliError('doctor --sign is for macOS (the HVF entitlement)', ExitCode.Usage);
        signed = doctor.createSignedNode();
        if (!argv.json) process.stderr.write(`nodevisor: signed node at ${signed}\n`);
      }
      const report = doctor.gatherDoctorReport();
      const guest = await guestState();
      if (argv.json) {
        printJson({ ...report, guest, ...(signed ? { signedNode: signed } : {}) });
      } else {
        const guestLine = guest.built
          ? `default guest:       built (${guest.kernelRelease}) in ${guest.cacheDir}`
          : `default guest:       not built (run: nodevisor guest build)`;
        process.stdout.write(doctor.formatDoctorReport(report).replace(/\n?$/, '\n') + guestLine + '\n');
      }
      result.exitCode = report.ok ? ExitCode.Ok : ExitCode.AcceleratorUnavailable;
    },
  };
}
