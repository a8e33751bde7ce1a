import { UserError } from '../../errors.js';
import type { ExportPlan, Exporter, ExportFile } from '../exporter.js';
import { headerText, instanceEnv, instanceId, RELEASE, typeOf } from '../exporter.js';
import { singleQuoted } from '../../shell.js';
import type { TemplateSet } from '../template.js';

/**
 * runit: one service folder `APP-web.1/` per instance holding `run`, `log/run` and `env/`
 * (one file per variable, read by `chpst -e`). The folders go where runsvdir looks, or into
 * /etc/sv with links from /etc/service. `run` (0700) and `env/` files (0600) hold the env files'
 * values and are read by root (runsv, then chpst before it changes user). runsv restarts every
 * `run` that exits, so `release` cannot be exported here.
 */
const TEMPLATES = {
  run: `#!/bin/sh
{{ header }}
exec 2>&1
# runsv starts this script inside the service folder; remember where env/ is before leaving it.
envdir="$PWD/env"
{{ exports }}
cd {{ root }} || exit 1
exec chpst {{ chpst_options }} /bin/sh -c {{ command }}
`,
  'log-run': `#!/bin/sh
{{ header }}
mkdir -p {{ log_dir }}
{{ chown_log_dir }}
exec {{ as_user }}svlogd -tt {{ log_dir }}
`,
};

/**
 * `chpst -e` keeps only a file's first line (NULs become newlines), drops trailing spaces and
 * tabs, and unsets the variable when the file is empty; values it would change are exported by
 * the run script instead.
 */
function envdirCanHold(value: string): boolean {
  return value !== '' && !/[ \t]$/.test(value) && !value.includes('\0');
}

function render(plan: ExportPlan, templates: TemplateSet) {
  const logRoot = plan.logDir ?? `/var/log/${plan.app}`;
  const header = `# ${headerText(plan.app)}`;
  const files: ExportFile[] = [];
  const replaceDirs: string[] = [];
  const asUser = plan.user === undefined ? '' : `chpst -u ${singleQuoted(plan.user)} `;
  if (plan.instances.some((instance) => instance.entry.name === RELEASE)) {
    throw new UserError(
      'runit has no one-shot service (runsv restarts a run script that exits), so release would run forever: export with -m release=0 and run "tsforeman run release" before "sv up"',
    );
  }

  for (const instance of plan.instances) {
    const dir = instanceId(plan.app, instance);
    const exports: string[] = [];
    for (const [key, value] of instanceEnv(plan, instance)) {
      if (envdirCanHold(value)) files.push({ path: `${dir}/env/${key}`, content: `${value.replaceAll('\n', '\0')}\n`, mode: 0o600 });
      else exports.push(`export ${key}=${singleQuoted(value)}`);
    }
    replaceDirs.push(`${dir}/env`);
    const common = { header, app: plan.app, process: instance.name, type: instance.entry.name, port: String(instance.port) };
    files.push({
      path: `${dir}/run`,
      mode: 0o700,
      content: templates.render('run', {
        ...common,
        exports: exports.join('\n'),
        root: singleQuoted(plan.root),
        chpst_options: `${plan.user === undefined ? '' : `-u ${singleQuoted(plan.user)} `}-e "$envdir"`,
        command: singleQuoted(typeOf(plan, instance).facts.shellCommand),
      }),
    });
    const logDir = singleQuoted(`${logRoot}/${instance.name}`);
    files.push({
      path: `${dir}/log/run`,
      mode: 0o755,
      content: templates.render('log-run', {
        ...common,
        log_dir: logDir,
        chown_log_dir: plan.user === undefined ? '' : `chown ${singleQuoted(plan.user)} ${logDir}`,
        as_user: asUser,
      }),
    });
  }
  return { files, replaceDirs };
}

export const runitExporter: Exporter = {
  format: 'runit',
  summary: 'one APP-TYPE.N/ service folder per instance (run, log/run, env/)',
  templates: TEMPLATES,
  needsImage: false,
  usesLogDir: true,
  render,
  markerFileFor: (entry, app) => (entry.startsWith(`${app}-`) ? `${entry}/run` : undefined),
};
