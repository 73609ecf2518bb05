// `nodevisor dtb --out FILE`: write the device tree a boot with the same flags would use.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { CliError } from '../errors.ts';
import { ExitCode } from '../exit-codes.ts';
import { addMachineOptions, composeCmdline, loadConfig, resolveMachine, type MachineArgv } from '../machine-flags.ts';
import type { CommandResult } from '../main.ts';
import { asGuestCrash } from './boot.ts';
import { makeLogger, printJson, type GlobalArgv } from './common.ts';

export type DtbArgv = MachineArgv & GlobalArgv & { out: string };

export function dtbCommand(result: CommandResult): CommandModule<object, DtbArgv> {
  return {
    command: 'dtb',
    describe: 'write the device tree blob that boot would give the guest with the same flags',
    builder: (y) =>
      addMachineOptions(y)
        .option('out', { alias: 'o', type: 'string', demandOption: true, requiresArg: true, describe: "output file ('-' for stdout)" })
        .example('$0 dtb --cpus 4 --out machine.dtb', 'then: dtc -I dtb -O dts machine.dtb') as never,
    handler: async (argv: ArgumentsCamelCase<DtbArgv>) => {
      const file = loadConfig(argv);
      const logger = makeLogger(argv, file);
      try {
        const machine = await resolveMachine(argv, file);
        const vmm = await import('../../vmm/machine.ts').catch((e: Error) => {
          throw asGuestCrash(e);
        });
        const options = { ...machine, cmdline: composeCmdline(machine.append), logger } as unknown as Parameters<typeof vmm.buildDeviceTree>[0];
        const dtb = await vmm.buildDeviceTree(options);
        if (argv.out === '-') {
          if (argv.json) throw new CliError("--json needs --out FILE (the DTB itself would be on stdout)", ExitCode.Usage);
          process.stdout.write(dtb);
        } else {
          writeFileSync(argv.out, dtb);
        }
        if (argv.json) printJson({ out: argv.out, size: dtb.length, sha256: createHash('sha256').update(dtb).digest('hex') });
        result.exitCode = ExitCode.Ok;
      } finally {
        await logger.close();
      }
    },
  };
}
