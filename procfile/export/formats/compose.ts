import type { ExportPlan, Exporter, ProcessType } from '../exporter.js';
import { envWithOwn, headerText, timeoutSpan } from '../exporter.js';
import { dnsLabel, yamlKey, yamlString } from '../quote.js';
import type { TemplateSet } from '../template.js';

/**
 * docker compose: one `APP.compose.yaml` with a service per process type, `deploy.replicas` from
 * the formation and, for `web`, its ports published on the host (a range when it has replicas).
 */
const TEMPLATES = {
  'compose.yaml': `{{ header }}
name: {{ project }}
services:
  {{ services }}
`,
  'service.yaml': `{{ name }}:
  image: {{ image }}
  entrypoint: ["/bin/sh", "-c", {{ command }}]
  {{ user_line }}
  environment:
    {{ environment }}
  {{ ports }}
  restart: always
  stop_grace_period: {{ timeout }}
  deploy:
    replicas: {{ replicas }}`,
};

const WEB = 'web';

/** compose interpolates `$VAR` and `${VAR}` in the file itself; `$$` is a literal `$`. */
function composeString(value: string): string {
  return yamlString(value.replaceAll('$', () => '$$'));
}

function publishedPorts(type: ProcessType): string {
  const host = type.count > 1 ? `${type.port}-${type.port + type.count - 1}` : String(type.port);
  return `ports:\n  - ${yamlString(`${host}:${type.port}`)}`;
}

function service(plan: ExportPlan, templates: TemplateSet, type: ProcessType): string {
  const env = envWithOwn(plan, { PORT: String(type.port), PS: type.entry.name });
  return templates.render('service.yaml', {
    name: yamlKey(type.entry.name),
    type: yamlString(type.entry.name),
    image: composeString(plan.image ?? ''),
    command: composeString(type.entry.command),
    user_line: plan.user === undefined ? '' : `user: ${composeString(plan.user)}`,
    environment: env.map(([key, value]) => `${yamlKey(key)}: ${composeString(value)}`).join('\n'),
    ports: type.entry.name === WEB ? publishedPorts(type) : '',
    port: String(type.port),
    timeout: yamlString(timeoutSpan(plan)),
    replicas: String(type.count),
  });
}

function render(plan: ExportPlan, templates: TemplateSet) {
  const content = templates.render('compose.yaml', {
    header: `# ${headerText(plan.app)}`,
    project: yamlString(dnsLabel(plan.app) || 'app'),
    services: plan.types.map((type) => service(plan, templates, type)).join('\n'),
  });
  return { files: [{ path: `${plan.app}.compose.yaml`, content, mode: 0o644 }], replaceDirs: [] };
}

export const composeExporter: Exporter = {
  format: 'compose',
  summary: 'APP.compose.yaml: a service per process type with deploy.replicas',
  templates: TEMPLATES,
  needsImage: true,
  usesLogDir: false,
  render,
  markerFileFor: (entry, app) => (entry === `${app}.compose.yaml` ? entry : undefined),
};
