import { UserError } from '../../errors.js';
import type { ExportPlan, Exporter, ProcessType } from '../exporter.js';
import { headerText, timeoutSeconds } from '../exporter.js';
import { dnsLabel, yamlKey, yamlString } from '../quote.js';
import type { TemplateSet } from '../template.js';

/**
 * Kubernetes: one `APP.kubernetes.yaml` with a ConfigMap of the env files' variables, a Deployment
 * per process type (replicas from the formation) and, for `web`, a Service and TCP probes.
 */
const TEMPLATES = {
  'configmap.yaml': `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ name }}
  labels:
    app: {{ app }}
{{ data }}
`,
  'deployment.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ name }}
  labels:
    app: {{ app }}
    process: {{ type }}
spec:
  replicas: {{ replicas }}
  selector:
    matchLabels:
      app: {{ app }}
      process: {{ type }}
  template:
    metadata:
      labels:
        app: {{ app }}
        process: {{ type }}
    spec:
      terminationGracePeriodSeconds: {{ timeout }}
      {{ security_context }}
      containers:
        - name: {{ type }}
          image: {{ image }}
          command: ["/bin/sh", "-c", {{ command }}]
          envFrom:
            - configMapRef:
                name: {{ configmap }}
          env:
            - name: PORT
              value: {{ port_string }}
            - name: PS
              value: {{ process_type }}
            - name: DYNO
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
          {{ ports }}
          {{ probes }}
`,
  'service.yaml': `apiVersion: v1
kind: Service
metadata:
  name: {{ name }}
  labels:
    app: {{ app }}
    process: {{ type }}
spec:
  selector:
    app: {{ app }}
    process: {{ type }}
  ports:
    - name: http
      port: 80
      targetPort: {{ port }}
`,
};

/** The web process type gets a Service and probes: it is the one Heroku routes HTTP to. */
const WEB = 'web';

function kubeName(value: string, what: string): string {
  const name = dnsLabel(value);
  if (name === '') throw new UserError(`cannot make a Kubernetes name from ${what} "${value}" (use letters or digits)`);
  return name;
}

function securityContext(user: string | undefined): string {
  if (user === undefined) return '';
  if (!/^\d+$/.test(user)) {
    throw new UserError(`kubernetes needs a numeric user id for -u/--user (runAsUser), got "${user}"`);
  }
  return `securityContext:\n  runAsUser: ${user}`;
}

function deployment(plan: ExportPlan, templates: TemplateSet, app: string, type: ProcessType): string {
  const typeName = kubeName(type.entry.name, 'the process type');
  const isWeb = type.entry.name === WEB;
  const probe = (kind: string) => `${kind}:\n  tcpSocket:\n    port: ${type.port}\n  periodSeconds: 10`;
  return templates.render('deployment.yaml', {
    name: yamlString(`${app}-${typeName}`),
    app: yamlString(app),
    type: yamlString(typeName),
    process_type: yamlString(type.entry.name),
    replicas: String(type.count),
    timeout: String(timeoutSeconds(plan)),
    security_context: securityContext(plan.user),
    image: yamlString(plan.image ?? ''),
    // Kubernetes turns `$(VAR)` in a command into the variable and `$$` into `$`: doubling every
    // `$` hands the command to the shell unchanged.
    command: yamlString(type.entry.command.replaceAll('$', () => '$$')),
    configmap: yamlString(`${app}-env`),
    port: String(type.port),
    port_string: yamlString(String(type.port)),
    ports: isWeb ? `ports:\n  - name: http\n    containerPort: ${type.port}` : '',
    probes: isWeb ? [probe('readinessProbe'), probe('livenessProbe')].join('\n') : '',
  });
}

function render(plan: ExportPlan, templates: TemplateSet) {
  const app = kubeName(plan.app, 'the app name');
  const entries = Object.entries(plan.env);
  const documents = [
    templates.render('configmap.yaml', {
      name: yamlString(`${app}-env`),
      app: yamlString(app),
      data: entries.length === 0
        ? 'data: {}'
        : ['data:', ...entries.map(([key, value]) => `  ${yamlKey(key)}: ${yamlString(value)}`)].join('\n'),
    }),
    ...plan.types.map((type) => deployment(plan, templates, app, type)),
  ];
  const web = plan.types.find((type) => type.entry.name === WEB);
  if (web !== undefined) {
    documents.push(templates.render('service.yaml', {
      name: yamlString(`${app}-${WEB}`),
      app: yamlString(app),
      type: yamlString(WEB),
      port: String(web.port),
    }));
  }
  const content = `# ${headerText(plan.app)}\n${documents.map((doc) => `---\n${doc}`).join('')}`;
  return { files: [{ path: `${plan.app}.kubernetes.yaml`, content, mode: 0o644 }], replaceDirs: [] };
}

export const kubernetesExporter: Exporter = {
  format: 'kubernetes',
  summary: 'APP.kubernetes.yaml: a ConfigMap, a Deployment per process type, a Service for web',
  templates: TEMPLATES,
  needsImage: true,
  usesLogDir: false,
  render,
  markerFileFor: (entry, app) => (entry === `${app}.kubernetes.yaml` ? entry : undefined),
};
