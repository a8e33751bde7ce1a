/**
 * Imports the app or the config file, TypeScript included, in "type": "module" and CommonJS packages alike.
 * A .ts/.mts/.cts file loads through tsx when it is installed (an optional peer dependency: every Node
 * version, full TypeScript syntax), else through Node's own type stripping (Node >= 22.18: erasable
 * syntax only), else it is an error naming what to install.
 *
 *   const namespace = await importModule('/srv/app/app.ts', 'file:///srv/app/app.ts', cwd);
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

type Register = () => unknown;

/** How TypeScript is loaded in this process, decided at the first TypeScript import. */
let typescriptLoader: 'tsx' | 'node' | undefined;

export function isTypeScriptFile(file: string): boolean {
  return /\.(c|m)?tsx?$/.test(file);
}

/** Whether this Node strips types by itself (22.18+, 23.6+; or 22.6+ with --experimental-strip-types). */
function nodeStripsTypes(): boolean {
  return Boolean((process.features as { typescript?: string | false }).typescript);
}

/** tsx's register() functions, found next to this package or else in the app's own node_modules. */
async function findTsx(cwd: string): Promise<{ esm: Register; cjs: Register } | undefined> {
  const load = async (esmUrl: string, cjsUrl: string) => {
    const [esm, cjs] = (await Promise.all([import(esmUrl), import(cjsUrl)])) as [{ register: Register }, { register: Register }];
    return { esm: esm.register, cjs: cjs.register };
  };
  try {
    return await load('tsx/esm/api', 'tsx/cjs/api');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
  }
  // A global tsunicorn and the app's own tsx: resolve from the app's directory, as `import` would there
  // (the ESM entries: tsx's CommonJS build of esm/api cannot register hooks when imported).
  let manifestFile: string;
  try {
    manifestFile = createRequire(path.join(cwd, 'package.json')).resolve('tsx/package.json');
  } catch {
    return undefined;
  }
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { exports?: Record<string, { import?: { default?: string } }> };
  const entry = (subpath: string) => {
    const target = manifest.exports?.[subpath]?.import?.default;
    if (!target) throw new Error(`${manifestFile} has no ESM entry for ${subpath}: reinstall tsx`);
    return pathToFileURL(path.join(path.dirname(manifestFile), target)).href;
  };
  return load(entry('./esm/api'), entry('./cjs/api'));
}

async function enableTypeScript(file: string, cwd: string): Promise<void> {
  if (typescriptLoader) return;
  const tsx = await findTsx(cwd);
  if (tsx) {
    // Both: a .ts file in a CommonJS package (npm init's default) is loaded by Node's require() path.
    tsx.esm();
    tsx.cjs();
    typescriptLoader = 'tsx';
  } else if (nodeStripsTypes()) {
    typescriptLoader = 'node';
  } else {
    throw new Error(
      `${path.basename(file)} is TypeScript and Node ${process.versions.node} cannot load it by itself: ` +
        'npm install tsx (or use Node >= 22.18, which strips types)',
    );
  }
}

/** The "type" of the package a file belongs to ("commonjs" when the nearest package.json says nothing). */
function packageType(file: string): { type: string; manifest: string | undefined } {
  for (let directory = path.dirname(file); ; directory = path.dirname(directory)) {
    const manifest = path.join(directory, 'package.json');
    if (existsSync(manifest)) {
      try {
        const { type } = JSON.parse(readFileSync(manifest, 'utf8')) as { type?: unknown };
        return { type: typeof type === 'string' ? type : 'none', manifest };
      } catch {
        return { type: 'none', manifest };
      }
    }
    if (path.dirname(directory) === directory) return { type: 'none', manifest: undefined };
  }
}

/**
 * What Node's own type stripping cannot load, said before Node tries (it would print a warning of its
 * own first): import/export in a .ts file of a package that declares "type": "commonjs" (npm init's
 * default), since stripping removes types but does not turn ES module syntax into CommonJS.
 */
function checkNativeLoadable(file: string): void {
  if (!file.endsWith('.ts')) return;
  const { type, manifest } = packageType(file);
  if (type !== 'commonjs') return;
  if (!/^\s*(import|export)\s/m.test(readFileSync(file, 'utf8'))) return;
  throw new Error(
    `${path.basename(file)} uses import/export in a CommonJS package ("type": "commonjs" in ${manifest}), which Node's ` +
      'type stripping cannot load: npm install tsx (tsunicorn uses it when present), or rename the file to .mts',
  );
}

/** Node's errors for TypeScript that type stripping cannot handle (enum, namespace, parameter properties...). */
const STRIPPING_ERRORS = new Set(['ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX', 'ERR_INVALID_TYPESCRIPT_SYNTAX', 'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING']);

/**
 * Imports `url` (the module `file`, or a package when `file` is undefined) and returns its namespace. A
 * CommonJS module compiled from ESM syntax (`exports.default` with `__esModule`) shows its exports as an
 * ES module would, so `export default app` means the same in both kinds of package.
 */
export async function importModule(file: string | undefined, url: string, cwd = process.cwd()): Promise<Record<string, unknown>> {
  if (file !== undefined && isTypeScriptFile(file)) {
    await enableTypeScript(file, cwd);
    if (typescriptLoader === 'node') checkNativeLoadable(file);
  }
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
    if (typescriptLoader === 'node' && (STRIPPING_ERRORS.has(code ?? '') || error instanceof SyntaxError)) {
      throw new Error(
        `${message} (Node ${process.versions.node} only strips erasable TypeScript syntax: npm install tsx, which tsunicorn uses when present)`,
        { cause: error },
      );
    }
    if (typescriptLoader === 'node' && code === 'ERR_MODULE_NOT_FOUND' && /Cannot find module '[^']*\/[^/'.]+'/.test(message)) {
      throw new Error(`${message} (with Node's type stripping, imports name the file with its extension, './routes.ts'; or npm install tsx)`, { cause: error });
    }
    throw error;
  }
  const exported = namespace.default as Record<string, unknown> | undefined;
  if (exported && typeof exported === 'object' && exported.__esModule === true) {
    const unwrapped: Record<string, unknown> = { ...exported };
    delete unwrapped.__esModule;
    return unwrapped;
  }
  return namespace;
}
