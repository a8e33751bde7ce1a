import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { expect } from 'chai';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { REPO } from './helpers.js';

/**
 * The engines' own schemas, offline: every Kubernetes object through the `kubernetes-models`
 * package (the API's OpenAPI schemas), a compose file through the compose-spec project's JSON
 * schema (vendored in test/fixtures/compose-spec with its licence), checked by ajv.
 */

interface KubernetesModel {
  validate(): void;
}
type ModelClass = new (data: unknown) => KubernetesModel;

/** `kubernetes-models/apps/v1/Deployment` for apps/v1 Deployment, `kubernetes-models/v1/Secret` for v1. */
async function modelFor(apiVersion: string, kind: string): Promise<ModelClass> {
  const module = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, ModelClass>;
  const model = module[kind];
  if (model === undefined) throw new Error(`kubernetes-models has no ${apiVersion} ${kind}`);
  return model;
}

/** Each YAML document of `text`, parsed without errors and valid against its kind's API schema. */
export async function validKubernetesObjects(text: string): Promise<unknown[]> {
  const docs = parseAllDocuments(text);
  const objects: unknown[] = [];
  for (const doc of docs) {
    expect(doc.errors, 'YAML errors').to.deep.equal([]);
    const object = doc.toJS() as { apiVersion: string; kind: string; metadata: { name: string } };
    const Model = await modelFor(object.apiVersion, object.kind);
    expect(() => new Model(object).validate(), `${object.kind}/${object.metadata.name}`).to.not.throw();
    objects.push(object);
  }
  return objects;
}

let composeValidator: ReturnType<Ajv['compile']> | undefined;

/** The compose file `text`, parsed and valid against the compose-spec schema (the errors shown if not). */
export function validCompose(text: string): unknown {
  if (composeValidator === undefined) {
    const schema = JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'compose-spec', 'compose-spec.json'), 'utf8')) as object;
    // strict: false, because the schema uses annotations (deprecated) and formats beyond draft-07's core.
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    // The schema names draft-07 by its https address; ajv knows that meta-schema by the http one.
    const draft7 = JSON.parse(readFileSync(join(REPO, 'node_modules', 'ajv', 'dist', 'refs', 'json-schema-draft-07.json'), 'utf8')) as object;
    ajv.addMetaSchema({ ...draft7, $id: 'https://json-schema.org/draft-07/schema' });
    composeValidator = ajv.compile(schema);
  }
  const compose = parseYaml(text) as unknown;
  const valid = composeValidator(compose);
  expect(valid, JSON.stringify(composeValidator.errors, null, 2)).to.equal(true);
  return compose;
}

/**
 * A compose env_file read by the rules of Docker's documentation ("Syntax for environment files"):
 * `#` lines are comments; a single-quoted value is literal but for `\'`; a double-quoted value
 * knows `\n`, `\r`, `\t`, `\\`, `\"`, and `$$` is a literal `$`.
 */
export function readComposeEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    const raw = line.slice(eq + 1);
    if (raw.startsWith("'") && raw.endsWith("'")) {
      env[key] = raw.slice(1, -1).replaceAll("\\'", "'");
    } else if (raw.startsWith('"') && raw.endsWith('"')) {
      env[key] = raw.slice(1, -1).replace(/\\(.)|\$\$/g, (match, char?: string) => {
        if (match === '$$') return '$';
        return ({ n: '\n', r: '\r', t: '\t' } as Record<string, string>)[char ?? ''] ?? char ?? '';
      });
    } else {
      throw new Error(`${file}: unquoted value in ${line}`);
    }
  }
  return env;
}
