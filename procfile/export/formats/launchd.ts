import { UserError } from '../../errors.js';
import type { ExportPlan, Exporter } from '../exporter.js';
import { headerText, instanceEnv, instanceId, RELEASE, typeOf } from '../exporter.js';
import type { TemplateSet } from '../template.js';

/**
 * launchd: one `APP-web.1.plist` per instance (a LaunchDaemon or LaunchAgent), mode 0600 as it holds
 * the env files' values. `release` runs once when loaded (KeepAlive false).
 */
const TEMPLATES = {
  'process.plist': `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
{{ header }}
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>{{ label }}</string>
  <key>ProgramArguments</key>
  <array>
    <string>/bin/sh</string>
    <string>-c</string>
    <string>{{ command }}</string>
  </array>
  <key>WorkingDirectory</key>
  <string>{{ working_directory }}</string>
  {{ user_entry }}
  <key>EnvironmentVariables</key>
  <dict>
    {{ environment_entries }}
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  {{ keep_alive }}
  <key>ExitTimeOut</key>
  <integer>{{ timeout }}</integer>
  <key>StandardOutPath</key>
  <string>{{ log_file }}</string>
  <key>StandardErrorPath</key>
  <string>{{ log_file }}</string>
</dict>
</plist>
`,
};

/**
 * Escapes text for an XML element. XML 1.0 cannot hold most control characters at all, and a
 * parser turns a raw CR into LF, so CR is written as a character reference.
 */
export function xmlText(value: string, what: string): string {
  // eslint-disable-next-line no-control-regex -- finding the control characters XML forbids is the point
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f]/.test(value)) {
    throw new UserError(`launchd plists cannot hold ${what}: it contains a control character XML forbids`);
  }
  return value.replace(/[&<>"\r]/g, (char) => {
    switch (char) {
      case '&': return '&amp;';
      case '<': return '&lt;';
      case '>': return '&gt;';
      case '"': return '&quot;';
      default: return '&#13;';
    }
  });
}

function render(plan: ExportPlan, templates: TemplateSet) {
  const logDir = plan.logDir ?? `/var/log/${plan.app}`;
  const files = plan.instances.map((instance) => {
    const label = instanceId(plan.app, instance);
    const type = typeOf(plan, instance);
    const content = templates.render('process.plist', {
      header: `<!-- ${headerText(plan.app)} -->`,
      label: xmlText(label, 'the label'),
      app: xmlText(plan.app, 'the app name'),
      process: instance.name,
      type: instance.entry.name,
      port: String(instance.port),
      command: xmlText(type.facts.shellCommand, `the command of ${instance.entry.name}`),
      working_directory: xmlText(plan.root, 'the root folder'),
      user_entry: plan.user === undefined ? '' : `<key>UserName</key>\n<string>${xmlText(plan.user, 'the user')}</string>`,
      environment_entries: instanceEnv(plan, instance)
        .map(([key, value]) => `<key>${key}</key>\n<string>${xmlText(value, `${key} from the env files`)}</string>`)
        .join('\n'),
      keep_alive: instance.entry.name === RELEASE ? '<false/>' : '<true/>',
      timeout: String(type.facts.stopSeconds),
      log_file: xmlText(`${logDir}/${instance.name}.log`, 'the log file path'),
    });
    return { path: `${label}.plist`, content, mode: 0o600 };
  });
  return { files, replaceDirs: [] };
}

export const launchdExporter: Exporter = {
  format: 'launchd',
  summary: 'one APP-TYPE.N.plist per instance',
  templates: TEMPLATES,
  needsImage: false,
  usesLogDir: true,
  render,
  markerFileFor: (entry, app) => (entry.startsWith(`${app}-`) && entry.endsWith('.plist') ? entry : undefined),
};
