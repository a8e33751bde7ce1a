import type { BindAddress } from '../../../runtime/settings.js';
import type { ExportPlan, Exporter, ExportFile, ProcessType } from '../exporter.js';
import { headerText, instanceId, ownEnv, RELEASE, secretEnv, typeOf } from '../exporter.js';
import type { TemplateSet } from '../template.js';

/**
 * systemd: `APP.target` wants one `APP-web.1.service` per instance. One unit per instance
 * (rather than `APP-web@.service` templates) because each instance has its own PORT and PS,
 * which a template unit could only derive from its instance name.
 */
const TEMPLATES = {
  'app.target': `{{ header }}
[Unit]
Description={{ description }}
Wants={{ services }}

[Install]
WantedBy=multi-user.target
`,
  'process.service': `{{ header }}
[Unit]
Description={{ description }}
PartOf={{ target }}
After={{ after }}
{{ requires_line }}

[Service]
Type={{ service_type }}
{{ notify_access_line }}
{{ user_line }}
WorkingDirectory={{ working_directory }}
EnvironmentFile={{ environment_file }}
{{ environment_lines }}
ExecStart={{ exec_start }}
{{ restart_lines }}
KillMode=mixed
TimeoutStopSec={{ timeout }}
StandardInput=null
{{ output_lines }}
`,
  'process.socket': `{{ header }}
[Unit]
Description={{ description }}
PartOf={{ target }}

[Socket]
{{ listen_lines }}
FileDescriptorName={{ fd_name }}
Service={{ service }}
`,
  'app.env': `{{ header }}
# The env files' variables for every {{ app }} unit (EnvironmentFile=). Mode 0600: keep it that way.
{{ variables }}
`,
};

/** `%` starts a specifier (`%n`, `%h`, ...) in almost every unit setting; `%%` is a literal `%`. */
export function escapeSpecifiers(value: string): string {
  return value.replaceAll('%', '%%');
}

/**
 * One double-quoted word with C-style escapes, as systemd splits `Environment=` and `ExecStart=`.
 * `$` is not touched: only ExecStart expands variables, and its caller doubles them.
 */
export function quoteWord(value: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what this escapes
  const escaped = value.replace(/[\\"\x00-\x1f\x7f]/g, (char) => {
    switch (char) {
      case '\\': return '\\\\';
      case '"': return '\\"';
      case '\n': return '\\n';
      case '\t': return '\\t';
      case '\r': return '\\r';
      default: return `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`;
    }
  });
  return escapeSpecifiers(`"${escaped}"`);
}

/** `Environment="KEY=value"`, one line per variable. */
export function environmentLine(key: string, value: string): string {
  return `Environment=${quoteWord(`${key}=${value}`)}`;
}

/** `/bin/sh -c "..."`; `$$` keeps systemd from expanding `$VAR` itself, so the shell does. */
export function execStart(command: string): string {
  return `/bin/sh -c ${quoteWord(command.replaceAll('$', () => '$$'))}`;
}

/**
 * One `KEY="value"` line of an EnvironmentFile=: systemd reads a double-quoted value as POSIX sh
 * does, so `"`, `\`, `` ` `` and `$` are escaped and everything else (newlines too) is kept.
 */
export function environmentFileLine(key: string, value: string): string {
  return `${key}="${value.replace(/["\\`$]/g, (char) => `\\${char}`)}"`;
}

/** `ListenStream=` for one of tsunicorn's addresses (an IPv6 host in brackets, a unix path as is). */
function listenLine(bind: BindAddress): string {
  if (bind.kind === 'unix') return `ListenStream=${escapeSpecifiers(bind.path)}`;
  const host = bind.host.includes(':') ? `[${bind.host}]` : bind.host;
  return `ListenStream=${escapeSpecifiers(`${host}:${bind.port}`)}`;
}

/**
 * `notify` for tsunicorn (READY=1 once its workers serve), `oneshot` for release (it runs to its end
 * once, the others wait for it), else `simple`.
 */
function serviceType(type: ProcessType): string {
  if (type.entry.name === RELEASE) return 'oneshot';
  return type.facts.tsunicorn ? 'notify' : 'simple';
}

function render(plan: ExportPlan, templates: TemplateSet) {
  const header = `# ${headerText(plan.app)}`;
  const target = `${plan.app}.target`;
  const envFile = `${plan.app}.env`;
  const files: ExportFile[] = [];
  const wanted: string[] = [];
  const release = plan.instances.find((instance) => instance.entry.name === RELEASE);
  const releaseUnit = release === undefined ? undefined : `${instanceId(plan.app, release)}.service`;

  files.push({
    path: envFile,
    mode: 0o600,
    content: templates.render('app.env', {
      header,
      app: plan.app,
      variables: secretEnv(plan).map(([key, value]) => environmentFileLine(key, value)).join('\n'),
    }),
  });

  for (const instance of plan.instances) {
    const id = instanceId(plan.app, instance);
    const type = typeOf(plan, instance);
    const isRelease = instance.entry.name === RELEASE;
    const binds = plan.heldBinds.get(instance.name);
    const socket = binds === undefined ? undefined : `${id}.socket`;
    wanted.push(`${id}.service`);
    const output = plan.logDir === undefined
      ? ['StandardOutput=journal', 'StandardError=journal', `SyslogIdentifier=${escapeSpecifiers(id)}`]
      : ['StandardOutput', 'StandardError'].map(
        (stream) => `${stream}=append:${escapeSpecifiers(`${plan.logDir}/${instance.name}.log`)}`,
      );
    const before = [...(isRelease || releaseUnit === undefined ? [] : [releaseUnit]), ...(socket === undefined ? [] : [socket])];
    const content = templates.render('process.service', {
      header,
      app: escapeSpecifiers(plan.app),
      description: escapeSpecifiers(`${plan.app} ${instance.name}`),
      process: instance.name,
      type: instance.entry.name,
      port: String(instance.port),
      target,
      after: ['network.target', ...before].join(' '),
      requires_line: before.length === 0 ? '' : `Requires=${before.join(' ')}`,
      service_type: serviceType(type),
      // After a USR2 the new master (a child of the old) says MAINPID=: systemd listens to it only with `all`.
      notify_access_line: serviceType(type) === 'notify' ? 'NotifyAccess=all' : '',
      user_line: plan.user === undefined ? '' : `User=${escapeSpecifiers(plan.user)}`,
      working_directory: escapeSpecifiers(plan.root),
      environment_file: escapeSpecifiers(`${plan.outDir}/${envFile}`),
      environment_lines: Object.entries(ownEnv(plan, instance)).map(([key, value]) => environmentLine(key, value)).join('\n'),
      exec_start: execStart(type.facts.shellCommand),
      command: escapeSpecifiers(instance.entry.command),
      // A oneshot's start is the whole run (a migration may take long); it is never restarted.
      restart_lines: isRelease ? 'RemainAfterExit=yes\nTimeoutStartSec=infinity' : 'Restart=always',
      timeout: `${type.facts.stopSeconds}s`,
      output_lines: output.join('\n'),
    });
    files.push({ path: `${id}.service`, content, mode: 0o644 });
    if (binds !== undefined && socket !== undefined) {
      wanted.push(socket);
      files.push({
        path: socket,
        mode: 0o644,
        content: templates.render('process.socket', {
          header,
          app: escapeSpecifiers(plan.app),
          description: escapeSpecifiers(`${plan.app} ${instance.name} port`),
          process: instance.name,
          type: instance.entry.name,
          port: String(instance.port),
          target,
          listen_lines: binds.map(listenLine).join('\n'),
          fd_name: escapeSpecifiers(instance.name),
          service: `${id}.service`,
        }),
      });
    }
  }

  const targetFile = templates.render('app.target', {
    header,
    app: escapeSpecifiers(plan.app),
    description: escapeSpecifiers(`${plan.app} (processes exported by tsforeman)`),
    services: wanted.join(' '),
  });
  return { files: [{ path: target, content: targetFile, mode: 0o644 }, ...files], replaceDirs: [] };
}

export const systemdExporter: Exporter = {
  format: 'systemd',
  summary: 'APP.target plus one APP-TYPE.N.service per instance',
  templates: TEMPLATES,
  needsImage: false,
  usesLogDir: true,
  render,
  markerFileFor(entry, app) {
    const ours = entry === `${app}.target` || entry === `${app}.env`
      || (entry.startsWith(`${app}-`) && (entry.endsWith('.service') || entry.endsWith('.socket')));
    return ours ? entry : undefined;
  },
};
