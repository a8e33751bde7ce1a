import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { createRequire } from 'node:module';
import type { Node } from 'yaml';
import { warnOnStderr } from './env.js';
import { FileLineError, UserError } from './errors.js';
import { shownPath } from './project.js';

/** The YAML parser, loaded when a .foreman file is there to read (not at every start-up). */
let yamlModule: typeof import('yaml') | undefined;
const yaml = (): typeof import('yaml') => (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'));

/**
 * `.foreman`: foreman's file of defaults, YAML keys named like the long flags (`procfile`, `port`,
 * `formation`, `env`, `timeout`, ...), read from the root (`-d DIR`, else the current folder).
 * Flags given on the command line win over it. An unknown key is one warning line naming the file
 * and line; a value of the wrong kind is an error, also with its line.
 *
 *   procfile: Procfile.dev
 *   formation: { web: 2, worker: 1 }     # or "web=2,worker=1" (foreman's older `concurrency` too)
 *   env: [.env, .env.local]
 *   after: { web: release, worker: [web] }
 *   ready_line: { worker: "queue ready" }
 *   hold_port: web                        # or [web, api]
 *   strict_env: true
 */

type Kind = 'string' | 'strings' | 'number' | 'boolean' | 'pairs';

/** Each key: the option it sets (commander's attribute name) and what its value must be. */
const KEYS: Record<string, { option: string; kind: Kind; path?: boolean }> = {
  procfile: { option: 'procfile', kind: 'string', path: true },
  root: { option: 'root', kind: 'string', path: true },
  app_root: { option: 'root', kind: 'string', path: true },
  env: { option: 'env', kind: 'strings', path: true },
  port: { option: 'port', kind: 'number' },
  formation: { option: 'formation', kind: 'pairs' },
  concurrency: { option: 'formation', kind: 'pairs' },
  timeout: { option: 'timeout', kind: 'number' },
  restart: { option: 'restart', kind: 'strings' },
  can_die: { option: 'canDie', kind: 'strings' },
  after: { option: 'after', kind: 'pairs' },
  ready_line: { option: 'readyLine', kind: 'pairs' },
  hold_port: { option: 'holdPort', kind: 'strings' },
  strict_env: { option: 'strictEnv', kind: 'boolean' },
  color: { option: 'color', kind: 'boolean' },
  timestamp: { option: 'timestamp', kind: 'boolean' },
  log_lines: { option: 'logLines', kind: 'number' },
  socket: { option: 'socket', kind: 'string', path: true },
};

export const FOREMAN_FILE = '.foreman';

/** The defaults a `.foreman` holds, as option values (strings and lists, as the flags give them). */
export type ForemanDefaults = Record<string, string | string[] | boolean>;

/** Where each option taken from `.foreman` was written (`.foreman:3: after`), kept on the merged options. */
const ORIGINS = Symbol('foreman origins');

/**
 * How a message names the source of an option's value: `.foreman:3: after` when it came from
 * `.foreman` (see `withForemanDefaults`), else `flag` (`--after`).
 */
export function optionSource(options: object, option: string, flag: string): string {
  const origins = (options as { [ORIGINS]?: Record<string, string> })[ORIGINS];
  return origins?.[option] ?? flag;
}

/**
 * Reads `DIR/.foreman` when it exists. Paths in it are relative to its folder. `warn` gets each
 * warning line (default: stderr).
 */
export function readForemanFile(dir: string, cwd: string, warn: (line: string) => void = warnOnStderr): ForemanDefaults {
  return readForemanEntries(dir, cwd, warn).defaults;
}

/** `readForemanFile`, with where each option was set (`.foreman:3: after`). */
function readForemanEntries(dir: string, cwd: string, warn: (line: string) => void): { defaults: ForemanDefaults; origins: Record<string, string> } {
  const origins: Record<string, string> = {};
  const file = join(dir, FOREMAN_FILE);
  if (!existsSync(file)) return { defaults: {}, origins };
  const shown = shownPath(file, cwd);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UserError(`cannot read ${shown}: ${(error as Error).message}`);
  }
  const lines = new (yaml().LineCounter)();
  const document = yaml().parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const lineOf = (node: Node | null | undefined) => (node?.range ? lines.linePos(node.range[0]).line : 1);
  const [problem] = document.errors;
  if (problem) throw new FileLineError(shown, lines.linePos(problem.pos[0]).line, `not valid YAML: ${problem.message.split('\n')[0]}`);
  if (document.contents === null) return { defaults: {}, origins };
  if (!yaml().isMap(document.contents)) throw new FileLineError(shown, lineOf(document.contents), 'expected "key: value" lines (a YAML mapping)');
  const defaults: ForemanDefaults = {};
  for (const pair of document.contents.items) {
    const keyNode = pair.key as Node | null;
    const key = yaml().isScalar(keyNode) ? String(keyNode.value) : '';
    const line = lineOf(keyNode);
    const spec = KEYS[key];
    if (spec === undefined) {
      warn(`${shown}:${line}: unknown key "${key}" ignored (known: ${Object.keys(KEYS).join(', ')})`);
      continue;
    }
    const valueNode = pair.value as Node | null;
    const value = valueOf(valueNode, spec.kind, key, (message) => new FileLineError(shown, lineOf(valueNode ?? keyNode), message));
    if (value === undefined) continue;
    defaults[spec.option] = spec.path === true ? resolvePaths(value, dir) : value;
    origins[spec.option] = `${shown}:${line}: ${key}`;
  }
  return { defaults, origins };
}

function resolvePaths(value: string | string[] | boolean, dir: string): string | string[] | boolean {
  if (typeof value === 'string') return resolve(dir, value);
  if (Array.isArray(value)) return value.map((item) => resolve(dir, item));
  return value;
}

/** A node's value as the option wants it; `fail` makes the error for a wrong kind. */
function valueOf(node: Node | null, kind: Kind, key: string, fail: (message: string) => Error): string | string[] | boolean | undefined {
  const scalar = (item: Node | null): string | number | boolean | null => {
    if (!yaml().isScalar(item)) throw fail(`${key}: expected ${describe(kind)}`);
    const value = item.value;
    if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
    throw fail(`${key}: expected ${describe(kind)}`);
  };
  if (node === null || (yaml().isScalar(node) && node.value === null)) return undefined;
  switch (kind) {
    case 'string': {
      const value = scalar(node);
      if (typeof value !== 'string') throw fail(`${key}: expected ${describe(kind)}`);
      return value;
    }
    case 'number': {
      const value = scalar(node);
      if (typeof value === 'number' || (typeof value === 'string' && value.trim() !== '')) return String(value);
      throw fail(`${key}: expected ${describe(kind)}`);
    }
    case 'boolean': {
      const value = scalar(node);
      if (typeof value !== 'boolean') throw fail(`${key}: expected ${describe(kind)}`);
      return value;
    }
    case 'strings': {
      const items = yaml().isSeq(node) ? (node.items as Node[]) : [node];
      return items.map((item) => {
        const value = scalar(item);
        if (typeof value !== 'string') throw fail(`${key}: expected ${describe(kind)}`);
        return value;
      });
    }
    case 'pairs': {
      // "web=2,worker=1" as the flag takes it, a list of such strings, or a mapping { web: 2 } / { web: [a, b] }.
      if (yaml().isMap(node)) {
        return node.items.map((pair) => {
          const name = scalar(pair.key as Node | null);
          const value = pair.value as Node | null;
          const values = yaml().isSeq(value) ? (value.items as Node[]).map((item) => String(scalar(item))) : [String(scalar(value))];
          return `${String(name)}=${values.join(',')}`;
        });
      }
      const items = yaml().isSeq(node) ? (node.items as Node[]) : [node];
      return items.map((item) => String(scalar(item)));
    }
  }
}

function describe(kind: Kind): string {
  return {
    string: 'a string',
    strings: 'a string or a list of strings',
    number: 'a number',
    boolean: 'true or false',
    pairs: 'TYPE=VALUE text or a mapping of types',
  }[kind];
}

/**
 * Fills the options of `command` that the command line left unset (or at their default) from
 * `.foreman` in the root (`-d`, else the current folder). Only keys the command has an option for
 * (and, with `only`, only those options, without the unknown-key warnings).
 */
export function withForemanDefaults<T extends object>(command: Command, options: T, cwd = process.cwd(), only?: readonly string[]): T {
  const given = options as Record<string, unknown>;
  const dir = typeof given.root === 'string' ? resolve(cwd, given.root) : cwd;
  // A client of the running manager (`only`: the keys that locate it) leaves the file's warnings to
  // the commands that use the whole file, so `ps --json` in a loop does not repeat them.
  const { defaults, origins } = readForemanEntries(dir, cwd, only === undefined ? warnOnStderr : () => undefined);
  const known = new Set(command.options.map((option) => option.attributeName()));
  const merged: Record<string | symbol, unknown> = { ...given };
  const taken: Record<string, string> = {};
  for (const [option, value] of Object.entries(defaults)) {
    if (!known.has(option) || (only !== undefined && !only.includes(option))) continue;
    const source = command.getOptionValueSource(option);
    if (source === undefined || source === 'default') {
      merged[option] = value;
      if (origins[option] !== undefined) taken[option] = origins[option];
    }
  }
  // A symbol key: copied by `{ ...options }`, invisible to commander and to Object.keys.
  merged[ORIGINS] = taken;
  return merged as T;
}
