import type { ExportPlan, Exporter, ExportFile } from '../exporter.js';
import { headerText, instanceEnv, instanceId, timeoutSpan } from '../exporter.js';
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
After=network.target

[Service]
Type=simple
{{ user_line }}
WorkingDirectory={{ working_directory }}
{{ environment_lines }}
ExecStart={{ exec_start }}
Restart=always
KillMode=mixed
TimeoutStopSec={{ timeout }}
StandardInput=null
{{ output_lines }}
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

function render(plan: ExportPlan, templates: TemplateSet) {
  const header = `# ${headerText(plan.app)}`;
  const target = `${plan.app}.target`;
  const files: ExportFile[] = [];
  const services: string[] = [];

  for (const instance of plan.instances) {
    const id = instanceId(plan.app, instance);
    services.push(`${id}.service`);
    const output = plan.logDir === undefined
      ? ['StandardOutput=journal', 'StandardError=journal', `SyslogIdentifier=${escapeSpecifiers(id)}`]
      : ['StandardOutput', 'StandardError'].map(
        (stream) => `${stream}=append:${escapeSpecifiers(`${plan.logDir}/${instance.name}.log`)}`,
      );
    const content = templates.render('process.service', {
      header,
      app: escapeSpecifiers(plan.app),
      description: escapeSpecifiers(`${plan.app} ${instance.name}`),
      process: instance.name,
      type: instance.entry.name,
      port: String(instance.port),
      target,
      user_line: plan.user === undefined ? '' : `User=${escapeSpecifiers(plan.user)}`,
      working_directory: escapeSpecifiers(plan.root),
      environment_lines: instanceEnv(plan, instance).map(([key, value]) => environmentLine(key, value)).join('\n'),
      exec_start: execStart(instance.entry.command),
      command: escapeSpecifiers(instance.entry.command),
      timeout: timeoutSpan(plan),
      output_lines: output.join('\n'),
    });
    files.push({ path: `${id}.service`, content, mode: 0o644 });
  }

  const targetFile = templates.render('app.target', {
    header,
    app: escapeSpecifiers(plan.app),
    description: escapeSpecifiers(`${plan.app} (processes exported by tsforeman)`),
    services: services.join(' '),
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
    const ours = entry === `${app}.target` || (entry.startsWith(`${app}-`) && entry.endsWith('.service'));
    return ours ? entry : undefined;
  },
};
