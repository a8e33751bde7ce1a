import type { Procfile, ProcfileEntry } from './procfile.js';
import { UserError } from './errors.js';

/**
 * How many instances of each process type to run: `all=1,web=2,worker=0`.
 * `counts` holds the named types; `all` applies to every type not named.
 *
 *   const f = parseFormation(['all=1,web=2']);  // f.all === 1, f.counts.get('web') === 2
 */
export interface Formation {
  all: number;
  counts: Map<string, number>;
}

const PART = /^([A-Za-z0-9_-]+)=(\d+)$/;

/**
 * Parses one or more formation specs (from `-m` and from positional `web=2` words); later parts win.
 * `lead` starts an error message (`.foreman:2: formation: `), when the specs come from a file.
 */
export function parseFormation(specs: readonly string[], lead = ''): Formation {
  const formation: Formation = { all: 1, counts: new Map() };
  for (const spec of specs) {
    for (const part of spec.split(',')) {
      const item = part.trim();
      if (item === '') continue;
      const match = PART.exec(item);
      if (!match) {
        throw new UserError(`${lead}bad formation "${item}" in "${spec}" (expected TYPE=COUNT, e.g. all=1,web=2,worker=0)`);
      }
      const [, name, count] = match as unknown as [string, string, string];
      if (name === 'all') formation.all = Number(count);
      else formation.counts.set(name, Number(count));
    }
  }
  return formation;
}

/** Rejects names that are not process types of the Procfile; `lead` starts the message (`--restart: `). */
export function checkProcessTypes(names: Iterable<string>, procfile: Procfile, lead = ''): void {
  const known = procfile.entries.map((entry) => entry.name);
  for (const name of names) {
    if (!known.includes(name)) {
      throw new UserError(`${lead}unknown process type "${name}" (${procfile.file} has: ${known.join(', ')})`);
    }
  }
}

/** Rejects formation names that are not process types of the Procfile; `lead` as for `parseFormation`. */
export function checkFormation(formation: Formation, procfile: Procfile, lead = ''): void {
  checkProcessTypes(formation.counts.keys(), procfile, `${lead}formation names `);
}

export function countFor(formation: Formation, type: string): number {
  return formation.counts.get(type) ?? formation.all;
}

/** One process to run: `web.2` is the second instance of `web`. */
export interface ProcessInstance {
  entry: ProcfileEntry;
  /** `web.2` */
  name: string;
  /** 1-based instance number */
  number: number;
  port: number;
}

/**
 * Expands a Procfile and formation into the instances to run, in Procfile order.
 * Port of an instance: base + 100 * (index of its type in the Procfile) + (number - 1).
 * `only`, when not empty, keeps just those process types.
 */
export function expandInstances(
  procfile: Procfile,
  formation: Formation,
  basePort: number,
  only: readonly string[] = [],
): ProcessInstance[] {
  checkProcessTypes(only, procfile);
  const instances: ProcessInstance[] = [];
  procfile.entries.forEach((entry, typeIndex) => {
    if (only.length > 0 && !only.includes(entry.name)) return;
    const count = countFor(formation, entry.name);
    for (let number = 1; number <= count; number++) {
      instances.push({
        entry,
        name: `${entry.name}.${number}`,
        number,
        port: basePort + 100 * typeIndex + (number - 1),
      });
    }
  });
  return instances;
}

/**
 * `PORT_WEB=5000`, `PORT_WORKER=5100`, ...: the port of instance 1 of each type that runs, so a
 * process finds the others without hard-coding ports. The type's name upper-cased, each character
 * other than a letter, digit or `_` made `_` (`PORT_API_V2` for `api-v2`); `PORT_WEB_2` and so on
 * for the further instances.
 */
export function portVariables(instances: readonly ProcessInstance[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const instance of instances) {
    const base = `PORT_${instance.entry.name.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
    const name = instance.number === 1 ? base : `${base}_${instance.number}`;
    env[name] ??= String(instance.port);
  }
  return env;
}

/** Parses a base port from a flag or `$PORT`. */
export function parsePort(value: string, source: string): number {
  if (!/^\d+$/.test(value.trim())) {
    throw new UserError(`${source}: expected a port number, got ${JSON.stringify(value)}`);
  }
  const port = Number(value);
  if (port < 1 || port > 65535) throw new UserError(`${source}: port ${port} is out of range (1-65535)`);
  return port;
}
