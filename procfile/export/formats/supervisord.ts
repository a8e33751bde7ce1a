import { UserError } from '../../errors.js';
import type { ExportPlan, Exporter } from '../exporter.js';
import { headerText, instanceEnv, instanceId, RELEASE, typeOf } from '../exporter.js';
import { singleQuoted } from '../../shell.js';
import type { TemplateSet } from '../template.js';

/**
 * supervisord: one `APP.conf` (mode 0600: it holds the env files' values) with a
 * `[program:APP-web.1]` per instance and a `[group:APP]`. `release` runs once: started first, never
 * restarted (supervisord has no way to make the others wait for it).
 */
const TEMPLATES = {
  'app.conf': `{{ header }}
{{ programs }}

[group:{{ app }}]
programs={{ program_names }}
`,
  'program.conf': `
[program:{{ name }}]
command={{ command }}
directory={{ directory }}
{{ user_line }}
environment={{ environment }}
autostart=true
{{ restart_lines }}
stopsignal=TERM
stopwaitsecs={{ timeout }}
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={{ log_file }}`,
};

/**
 * supervisord expands `%(name)s` in every value (`%%` is a literal `%`), and its ini reader cuts a
 * value at `;` or `#` that follows whitespace. A value cannot span lines.
 */
function iniValue(value: string, what: string): string {
  if (/[\r\n]/.test(value)) throw new UserError(`supervisord cannot hold ${what}: it spans several lines`);
  if (/\s[;#]/.test(value)) {
    throw new UserError(`supervisord cannot hold ${what}: a ";" or "#" after a space starts a comment there`);
  }
  return value.replaceAll('%', '%%');
}

/**
 * A shell-quoted word that also survives the ini reader: a `;` or `#` after whitespace is moved
 * into its own double-quoted piece, which shlex and sh join back into one word.
 */
function commandWord(value: string): string {
  return singleQuoted(value).replace(/(\s)([;#])/g, `$1'"$2"'`);
}

/**
 * `environment=` is split by Python's non-POSIX shlex: a value is kept exactly when it is wrapped
 * in quotes of a kind it does not contain and does not start or end with a quote character
 * (supervisord strips those). Anything else goes through `env` on the command line instead.
 */
function environmentValue(value: string): string | undefined {
  if (/\s[;#]/.test(value) || /^['"]|['"]$/.test(value)) return undefined;
  if (!value.includes('"')) return `"${value}"`;
  if (!value.includes("'")) return `'${value}'`;
  return undefined;
}

function render(plan: ExportPlan, templates: TemplateSet) {
  const logDir = plan.logDir ?? `/var/log/${plan.app}`;
  const names: string[] = [];
  const programs = plan.instances.map((instance) => {
    const name = instanceId(plan.app, instance);
    names.push(name);
    const inline: string[] = [];
    const viaEnv: string[] = [];
    for (const [key, value] of instanceEnv(plan, instance)) {
      if (/[\r\n]/.test(value)) throw new UserError(`supervisord cannot hold ${key} from the env files: it spans several lines`);
      const quoted = environmentValue(value);
      if (quoted === undefined) viaEnv.push(commandWord(`${key}=${value}`));
      else inline.push(`${key}=${quoted}`);
    }
    const type = typeOf(plan, instance);
    const shell = `/bin/sh -c ${commandWord(type.facts.shellCommand)}`;
    const command = viaEnv.length === 0 ? shell : `/usr/bin/env ${viaEnv.join(' ')} ${shell}`;
    return templates.render('program.conf', {
      name,
      app: plan.app,
      process: instance.name,
      type: instance.entry.name,
      port: String(instance.port),
      command: command.replaceAll('%', '%%'),
      directory: iniValue(plan.root, `the root folder ${plan.root}`),
      user_line: plan.user === undefined ? '' : `user=${iniValue(plan.user, 'the user name')}`,
      environment: inline.join(',').replaceAll('%', '%%'),
      // release: exits once (startsecs=0 counts a quick exit as a start), is not retried, starts first.
      restart_lines: instance.entry.name === RELEASE
        ? 'autorestart=false\nstartsecs=0\nstartretries=0\nexitcodes=0\npriority=100'
        : 'autorestart=true',
      timeout: String(type.facts.stopSeconds),
      log_file: iniValue(`${logDir}/${instance.name}.log`, 'the log file path'),
    });
  });
  const content = templates.render('app.conf', {
    header: `; ${headerText(plan.app)}`,
    app: plan.app,
    programs: programs.join('\n'),
    program_names: names.join(','),
  });
  return { files: [{ path: `${plan.app}.conf`, content, mode: 0o600 }], replaceDirs: [] };
}

export const supervisordExporter: Exporter = {
  format: 'supervisord',
  summary: 'APP.conf with a [program:APP-TYPE.N] per instance and a [group:APP]',
  templates: TEMPLATES,
  needsImage: false,
  usesLogDir: true,
  render,
  markerFileFor: (entry, app) => (entry === `${app}.conf` ? entry : undefined),
};
