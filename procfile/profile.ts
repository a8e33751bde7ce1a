import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.js';

/**
 * The environment a dyno has after boot: `.profile.d/*.sh` of the app root sourced by bash with
 * HOME set to the app root (a slug made by `tsforeman build` puts PATH, NODE_ENV and
 * WEB_CONCURRENCY there).
 *
 *   if (hasProfileScripts(root)) env = await loadProfileEnv(root, env);
 *
 * The scripts see `environment` (config vars, .env values) and may read or extend it. The result
 * keeps the caller's HOME: only the scripts themselves see HOME as the app root, so the processes
 * do not write caches into the slug.
 */
export function hasProfileScripts(root: string): boolean {
  const dir = path.join(root, '.profile.d');
  return existsSync(dir) && statSync(dir).isDirectory();
}

/** Variables bash sets for itself, which are not part of what the scripts exported. */
const SHELL_OWN = new Set(['_', 'SHLVL', 'PWD', 'OLDPWD']);

const SOURCE_ALL = 'for f in .profile.d/*.sh; do if [ -r "$f" ]; then . "$f"; fi; done; exec env -0';

export async function loadProfileEnv(root: string, environment: NodeJS.ProcessEnv): Promise<Record<string, string>> {
  const appRoot = path.resolve(root);
  // execa is loaded here, for the one command (a slug's start) that sources .profile.d.
  const { execa } = await import('execa');
  const result = await execa('bash', ['-c', SOURCE_ALL], {
    cwd: appRoot,
    env: { ...environment, HOME: appRoot },
    extendEnv: false,
    stdin: 'ignore',
    reject: false,
    encoding: 'utf8',
    stripFinalNewline: false,
  });
  if (result.failed) {
    const why = String(result.stderr ?? '').trim().split('\n').pop() || result.shortMessage;
    throw new UserError(`cannot source ${path.join(appRoot, '.profile.d')}/*.sh: ${why}`);
  }
  const env: Record<string, string> = {};
  for (const pair of String(result.stdout).split('\0')) {
    const equals = pair.indexOf('=');
    if (equals <= 0) continue;
    const name = pair.slice(0, equals);
    if (!SHELL_OWN.has(name)) env[name] = pair.slice(equals + 1);
  }
  if (environment.HOME === undefined) delete env.HOME;
  else env.HOME = environment.HOME;
  return env;
}
