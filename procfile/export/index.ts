import { join } from 'node:path';
import type { Command } from 'commander';
import { withForemanDefaults } from '../foreman-file.js';
import { addFlags, PROJECT_FLAGS } from '../options.js';
import { EXPORTERS, FORMAT_NAMES } from './formats.js';
import { planExport, type ExportOptions } from './plan.js';
import { writeExport } from './writer.js';

/**
 * Adds `tsforeman export FORMAT DIR` to the program.
 *
 *   registerExportCommand(program);  // tsforeman export systemd /etc/systemd/system -a demo -u app
 */
export function registerExportCommand(program: Command): void {
  const formats = [...EXPORTERS.values()].map((exporter) => `  ${exporter.format.padEnd(12)} ${exporter.summary}`);
  const command = program
    .command('export')
    .description('write service definitions for another supervisor (systemd, supervisord, launchd, runit, kubernetes, compose)')
    .argument('<format>', `one of: ${FORMAT_NAMES.join(', ')}`)
    .argument('<dir>', 'folder to write into (created if missing); stale files of the same app are removed')
    .addHelpText('after', `\nFormats:\n${formats.join('\n')}`);
  addFlags(command, [...PROJECT_FLAGS, 'formation', 'port', 'timeout', 'strictEnv', 'holdPort'])
    .option('-a, --app <name>', "app name used in file, unit and program names (default: the root folder's name)")
    .option('-u, --user <name>', 'user the processes run as (kubernetes: a numeric uid)')
    .option('-l, --log <dir>', 'log folder (default: /var/log/APP; systemd: the journal)')
    .option('-T, --template <dir>', "folder of templates replacing the built-in ones by name (DIR/FORMAT/NAME or DIR/NAME)")
    .option('--image <image>', 'container image of the app (kubernetes, compose; required there)')
    .option('--image-root <dir>', "the app's folder inside the image: working directory and PATH (kubernetes, compose; default: /app)")
    .action(async (format: string, dir: string, given: ExportOptions) => {
      // `.foreman` in the root gives defaults for the flags it names (formation, port, timeout, ...), as for start.
      const defaults = withForemanDefaults(command, given);
      // Lenient unless --strict-env (or strict_env): a variable no process can receive is a warning and skipped.
      const options = { ...defaults, strictEnv: defaults.strictEnv ?? false };
      const { exporter, plan, templates } = await planExport(format, options, process.env, process.cwd(), dir);
      const output = exporter.render(plan, templates);
      const report = writeExport(dir, plan.app, exporter, output);
      const lines = [
        ...writtenLines(report.written, output.replaceDirs).map((line) => `wrote ${join(dir, line)}`),
        ...report.removed.map((path) => `removed ${join(dir, path)} (no longer exported)`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}

/** One line per file, except that a folder written whole (runit's env/) is one line naming its files. */
function writtenLines(written: readonly string[], wholeDirs: readonly string[]): string[] {
  const lines: string[] = [];
  const grouped = new Map<string, string[]>();
  for (const path of written) {
    const dir = wholeDirs.find((candidate) => path.startsWith(`${candidate}/`));
    if (dir === undefined) {
      lines.push(path);
      continue;
    }
    let names = grouped.get(dir);
    if (names === undefined) {
      names = [];
      grouped.set(dir, names);
      lines.push(dir);
    }
    names.push(path.slice(dir.length + 1));
  }
  return lines.map((line) => (grouped.has(line) ? `${line}/ (${grouped.get(line)?.join(', ')})` : line));
}
