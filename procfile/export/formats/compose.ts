import type { ExportPlan, Exporter, ProcessType } from '../exporter.js';
import { headerText, RELEASE, secretEnv, WEB } from '../exporter.js';
import { dnsLabel, yamlKey, yamlString } from '../quote.js';
import type { TemplateSet } from '../template.js';

/**
 * docker compose: one `APP.compose.yaml` with a service per process type, `deploy.replicas` from
 * the formation and, for `web`, its ports published on the host (a range when it has replicas).
 * The env files' variables go in `APP.env` (mode 0600) beside it, read through `env_file`; `release`
 * is a one-shot service every other one waits for.
 */
const TEMPLATES = {
  'compose.yaml': `{{ header }}
# The env files' variables are not in this file: each service reads them from {{ env_file }} beside
# it (env_file, mode 0600), which holds secrets: keep it out of git and out of the image.
name: {{ project }}
services:
  {{ services }}
`,
  'service.yaml': `{{ name }}:
  image: {{ image }}
  working_dir: {{ working_dir }}
  entrypoint: ["/bin/sh", "-c", {{ command }}]
  {{ user_line }}
  env_file:
    - {{ env_file }}
  environment:
    {{ environment }}
  {{ ports }}
  {{ depends_on }}
  restart: {{ restart }}
  stop_grace_period: {{ timeout }}
  deploy:
    replicas: {{ replicas }}`,
  'app.env': `{{ header }}
# The env files' variables for every {{ app }} service (env_file). Mode 0600: keep it that way.
{{ variables }}
`,
};

/** compose interpolates `$VAR` and `${VAR}` in the file itself; `$$` is a literal `$`. */
function composeString(value: string): string {
  return yamlString(value.replaceAll('$', () => '$$'));
}

/**
 * One `KEY=value` line of a compose env_file: single-quoted values are taken literally (an
 * embedded `'` written `\'`); a value with a newline, or a backslash compose would read as an
 * escape, is double-quoted with `\\`, `\"`, `\n`, `\r`, `\t` and `$$` for `$`.
 */
export function composeEnvLine(key: string, value: string): string {
  if (!/[\n\r]/.test(value) && !/\\('|$)/.test(value)) return `${key}='${value.replaceAll("'", "\\'")}'`;
  const escaped = value.replace(/[\\"\n\r\t$]/g, (char) => {
    switch (char) {
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\t': return '\\t';
      case '$': return '$$';
      default: return `\\${char}`;
    }
  });
  return `${key}="${escaped}"`;
}

function publishedPorts(type: ProcessType): string {
  const host = type.count > 1 ? `${type.port}-${type.port + type.count - 1}` : String(type.port);
  return `ports:\n  - ${yamlString(`${host}:${type.port}`)}`;
}

function service(plan: ExportPlan, templates: TemplateSet, type: ProcessType, release: boolean): string {
  const own = { PATH: plan.path, PORT: String(type.port), PS: type.entry.name };
  const isRelease = type.entry.name === RELEASE;
  return templates.render('service.yaml', {
    name: yamlKey(type.entry.name),
    type: yamlString(type.entry.name),
    image: composeString(plan.image ?? ''),
    working_dir: composeString(plan.imageRoot ?? '/'),
    command: composeString(type.facts.shellCommand),
    user_line: plan.user === undefined ? '' : `user: ${composeString(plan.user)}`,
    env_file: yamlString(envFileName(plan)),
    environment: Object.entries(own).map(([key, value]) => `${yamlKey(key)}: ${composeString(value)}`).join('\n'),
    ports: type.entry.name === WEB ? publishedPorts(type) : '',
    depends_on: release && !isRelease ? `depends_on:\n  ${RELEASE}:\n    condition: service_completed_successfully` : '',
    // release runs once per `up`; a failed release is not retried and the others do not start.
    restart: isRelease ? '"no"' : 'always',
    port: String(type.port),
    timeout: yamlString(`${type.facts.stopSeconds}s`),
    replicas: String(isRelease ? Math.min(type.count, 1) : type.count),
  });
}

function envFileName(plan: ExportPlan): string {
  return `${plan.app}.env`;
}

function render(plan: ExportPlan, templates: TemplateSet) {
  const header = `# ${headerText(plan.app)}`;
  const release = plan.types.some((type) => type.entry.name === RELEASE && type.count > 0);
  const types = plan.types.filter((type) => type.entry.name !== RELEASE || type.count > 0);
  const content = templates.render('compose.yaml', {
    header,
    env_file: envFileName(plan),
    project: yamlString(dnsLabel(plan.app) || 'app'),
    services: types.map((type) => service(plan, templates, type, release)).join('\n'),
  });
  const envFile = templates.render('app.env', {
    header,
    app: plan.app,
    variables: secretEnv(plan).map(([key, value]) => composeEnvLine(key, value)).join('\n'),
  });
  return {
    files: [
      { path: `${plan.app}.compose.yaml`, content, mode: 0o644 },
      { path: envFileName(plan), content: envFile, mode: 0o600 },
    ],
    replaceDirs: [],
  };
}

export const composeExporter: Exporter = {
  format: 'compose',
  summary: 'APP.compose.yaml: a service per process type with deploy.replicas, release one-shot; APP.env (0600)',
  templates: TEMPLATES,
  needsImage: true,
  usesLogDir: false,
  render,
  markerFileFor: (entry, app) => (entry === `${app}.compose.yaml` || entry === `${app}.env` ? entry : undefined),
};
