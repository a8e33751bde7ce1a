import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EnvMap } from './env.js';
import { UserError } from './errors.js';
import { hasProfileScripts, loadProfileEnv } from './profile.js';

/**
 * The environment every process starts from: the inherited one, the env files over it (foreman and
 * honcho do the same), then, as on a dyno, whatever ROOT/.profile.d/*.sh make of it. The scripts run
 * once, seeing PORT = the base port; each process then gets its own PORT, PS and DYNO on top.
 * `profile`: true requires .profile.d, false skips it, undefined uses it when it exists.
 */
export async function processEnvironment(
  root: string,
  inherited: EnvMap,
  fileEnv: EnvMap,
  profile: boolean | undefined,
  basePort: number,
): Promise<EnvMap> {
  const env: EnvMap = { ...inherited, ...fileEnv };
  const present = hasProfileScripts(root);
  if (profile === true && !present) throw new UserError(`--profile: no .profile.d folder in ${root}`);
  if (profile === false || !present) return withPackageBin(env);
  return withPackageBin(await loadProfileEnv(root, { ...env, PORT: String(basePort) }));
}

/**
 * This package's own `bin/` folder (tsforeman, tsunicorn), found by walking up from this file, so it
 * works from dist/ and from the sources alike.
 */
export const PACKAGE_BIN = ((): string | undefined => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'bin', 'tsunicorn')) && existsSync(join(dir, 'package.json'))) return join(dir, 'bin');
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
})();

/**
 * `web: tsunicorn app.js` works wherever tsforeman runs (a global install, npx, this repo): the
 * package's bin folder goes at the END of PATH, so a tsunicorn the app installs itself still wins.
 */
function withPackageBin(env: EnvMap): EnvMap {
  if (PACKAGE_BIN === undefined) return env;
  const entries = (env.PATH ?? '').split(delimiter).filter((entry) => entry !== '');
  if (entries.includes(PACKAGE_BIN)) return env;
  return { ...env, PATH: [...entries, PACKAGE_BIN].join(delimiter) };
}
