import { createHash } from 'node:crypto';
import { UserError } from '../../errors.js';
import type { ExportPlan, Exporter, ProcessType } from '../exporter.js';
import { headerText, RELEASE, secretEnv, WEB } from '../exporter.js';
import { dnsLabel, yamlKey, yamlString } from '../quote.js';
import type { TemplateSet } from '../template.js';

/**
 * Kubernetes: `APP.kubernetes.yaml` with a Deployment per process type (replicas from the formation,
 * rolling updates that keep every ready pod until its successor is ready), a Job for `release`, and
 * for `web` a Service, an HTTP readiness probe and a preStop pause; the env files' variables go in a
 * Secret of their own file, `APP-env.secret.yaml` (mode 0600), so that file alone is kept out of git.
 */
const TEMPLATES = {
  'secret.yaml': `# {{ header }}
# This Secret holds the values of the env files: do not commit it (add {{ file }} to .gitignore),
# or do not keep it at all and create the Secret from the env file instead:
#   kubectl create secret generic {{ name_plain }} --from-env-file=.env
# Apply it before {{ main_file }}.
apiVersion: v1
kind: Secret
metadata:
  name: {{ name }}
  labels:
    app: {{ app }}
type: Opaque
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
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
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
      terminationGracePeriodSeconds: {{ grace }}
      {{ security_context }}
      containers:
        - name: {{ type }}
          {{ container }}
`,
  'job.yaml': `apiVersion: batch/v1
kind: Job
metadata:
  name: {{ name }}
  labels:
    app: {{ app }}
    process: {{ type }}
spec:
  backoffLimit: 0
  ttlSecondsAfterFinished: 86400
  template:
    metadata:
      labels:
        app: {{ app }}
        process: {{ type }}
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: {{ grace }}
      {{ security_context }}
      containers:
        - name: {{ type }}
          {{ container }}
`,
  'container.yaml': `image: {{ image }}
workingDir: {{ working_dir }}
command: ["/bin/sh", "-c", {{ command }}]
envFrom:
  - secretRef:
      name: {{ secret }}
env:
  - name: PATH
    value: {{ path }}
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
{{ lifecycle }}`,
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

/**
 * Seconds a terminating web pod keeps serving before it gets TERM: endpoint controllers, kube-proxy
 * and ingress controllers stop routing to it meanwhile, so TERM comes when no new request arrives.
 */
export const PRE_STOP_SECONDS = 10;
/** The path the exported web pod's tsunicorn answers itself when its settings name none. */
export const DEFAULT_HEALTH_PATH = '/.tsunicorn/health';

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

/**
 * The command of a container, and the health path its readiness probe asks (web only): a tsunicorn
 * web command without one of its own gets `--health-path`, so the worker answers the probe itself.
 */
function commandAndHealth(type: ProcessType): { command: string; healthPath?: string } {
  const { facts } = type;
  if (type.entry.name !== WEB || !facts.tsunicorn) return { command: facts.shellCommand };
  if (facts.healthPath !== undefined) return { command: facts.shellCommand, healthPath: facts.healthPath };
  return { command: `${facts.shellCommand} --health-path ${DEFAULT_HEALTH_PATH}`, healthPath: DEFAULT_HEALTH_PATH };
}

function container(plan: ExportPlan, templates: TemplateSet, app: string, type: ProcessType): string {
  const isWeb = type.entry.name === WEB;
  const { command, healthPath } = commandAndHealth(type);
  const readiness = healthPath === undefined
    ? `readinessProbe:\n  tcpSocket:\n    port: ${type.port}\n  periodSeconds: 5`
    : `readinessProbe:\n  httpGet:\n    path: ${yamlString(healthPath)}\n    port: ${type.port}\n  periodSeconds: 5\n  failureThreshold: 1`;
  const liveness = `livenessProbe:\n  tcpSocket:\n    port: ${type.port}\n  periodSeconds: 10`;
  return templates.render('container.yaml', {
    image: yamlString(plan.image ?? ''),
    working_dir: yamlString(plan.imageRoot ?? '/'),
    // Kubernetes turns `$(VAR)` in a command into the variable and `$$` into `$`: doubling every
    // `$` hands the command to the shell unchanged.
    command: yamlString(command.replaceAll('$', () => '$$')),
    secret: yamlString(`${app}-env`),
    path: yamlString(plan.path),
    port: String(type.port),
    port_string: yamlString(String(type.port)),
    process_type: yamlString(type.entry.name),
    ports: isWeb ? `ports:\n  - name: http\n    containerPort: ${type.port}` : '',
    probes: isWeb ? [readiness, liveness].join('\n') : '',
    lifecycle: isWeb ? `lifecycle:\n  preStop:\n    sleep:\n      seconds: ${PRE_STOP_SECONDS}` : '',
  });
}

/** The Job name of release: a hash of its rendered Job and the Secret (see `workload`). */
function releaseJobName(app: string, typeName: string, job: string, secretText: string): string {
  return `${app}-${typeName}-${createHash('sha256').update(job).update(secretText).digest('hex').slice(0, 10)}`;
}

function workload(plan: ExportPlan, templates: TemplateSet, app: string, type: ProcessType, secretText: string): { text: string; job?: string } {
  const typeName = kubeName(type.entry.name, 'the process type');
  const isWeb = type.entry.name === WEB;
  const vars = {
    app: yamlString(app),
    type: yamlString(typeName),
    process_type: yamlString(type.entry.name),
    replicas: String(type.count),
    grace: String(type.facts.stopSeconds + (isWeb ? PRE_STOP_SECONDS : 0)),
    security_context: securityContext(plan.user),
    container: container(plan, templates, app, type),
  };
  if (type.entry.name !== RELEASE) return { text: templates.render('deployment.yaml', { ...vars, name: yamlString(`${app}-${typeName}`) }) };
  // A Job's pod template cannot change: each new image, command or env gets a Job of its own name
  // (a hash of them), so applying a new release runs it once, and applying the same one again does not.
  const job = releaseJobName(app, typeName, templates.render('job.yaml', { ...vars, name: '{{NAME}}' }), secretText);
  return { text: templates.render('job.yaml', { ...vars, name: yamlString(job) }), job };
}

function render(plan: ExportPlan, templates: TemplateSet) {
  const app = kubeName(plan.app, 'the app name');
  const entries = secretEnv(plan);
  const secretFile = `${plan.app}-env.secret.yaml`;
  const mainFile = `${plan.app}.kubernetes.yaml`;
  const secret = templates.render('secret.yaml', {
    header: headerText(plan.app),
    file: secretFile,
    main_file: mainFile,
    name: yamlString(`${app}-env`),
    name_plain: `${app}-env`,
    app: yamlString(app),
    data: entries.length === 0
      ? 'stringData: {}'
      : ['stringData:', ...entries.map(([key, value]) => `  ${yamlKey(key)}: ${yamlString(value)}`)].join('\n'),
  });
  const types = plan.types.filter((type) => type.entry.name !== RELEASE || type.count > 0);
  const workloads = types.map((type) => workload(plan, templates, app, type, secret));
  const documents = workloads.map((rendered) => rendered.text);
  const releaseJob = workloads.find((rendered) => rendered.job !== undefined)?.job;
  const web = plan.types.find((type) => type.entry.name === WEB);
  if (web !== undefined) {
    documents.push(templates.render('service.yaml', {
      name: yamlString(`${app}-${WEB}`),
      app: yamlString(app),
      type: yamlString(WEB),
      port: String(web.port),
    }));
  }
  const comment = [
    `# ${headerText(plan.app)}`,
    `# Apply ${secretFile} first (the env files' values, kept out of this file).`,
    ...(releaseJob === undefined
      ? []
      : [
        `# release runs once per deploy as the Job ${releaseJob}; to start the new processes only after it succeeded:`,
        `#   kubectl apply -f ${mainFile} -l process=release`,
        `#   kubectl wait --for=condition=complete --timeout=30m job/${releaseJob}`,
        `#   kubectl apply -f ${mainFile}`,
      ]),
  ].join('\n');
  const content = `${comment}\n${documents.map((doc) => `---\n${doc}`).join('')}`;
  return {
    files: [
      { path: mainFile, content, mode: 0o644 },
      { path: secretFile, content: secret, mode: 0o600 },
    ],
    replaceDirs: [],
  };
}

export const kubernetesExporter: Exporter = {
  format: 'kubernetes',
  summary: 'APP.kubernetes.yaml: a Deployment per process type, a Job for release, a Service for web; APP-env.secret.yaml (0600)',
  templates: TEMPLATES,
  needsImage: true,
  usesLogDir: false,
  render,
  markerFileFor: (entry, app) =>
    (entry === `${app}.kubernetes.yaml` || entry === `${app}-env.secret.yaml` ? entry : undefined),
};
