import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { cp, link, lstat, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { UserError } from './errors.js';

/**
 * `tsforeman build`: runs this package's buildpack (bin/detect, bin/compile, bin/release) on an app
 * directory the way herokuish does, leaving a slug directory that `tsforeman start` can run.
 *
 *   const result = await buildApp({ appDir: 'myapp' }, process.env);
 *   // result.slugDir === '/path/to/myapp-slug', with node_modules, .heroku/node, .profile.d, Procfile
 */

/** What the user asked for; unset paths get their defaults (see defaultSlugDir, defaultCacheDir). */
export interface BuildOptions {
  appDir: string;
  cacheDir?: string;
  outDir?: string;
}

export interface BuildResult {
  slugDir: string;
  cacheDir: string;
  /** The process types bin/release proposed (used only when the app has no Procfile). */
  defaultProcessTypes: Record<string, string>;
  /** True when the app had no Procfile and one was written from bin/release. */
  wroteProcfile: boolean;
}

/** The build failed inside the buildpack; its own output already said why. */
class BuildFailedError extends UserError {
  constructor(message: string) {
    super(message, 1);
    this.name = 'BuildFailedError';
  }
}

/** A file in the slug root that marks it as ours, so a rebuild may replace the directory. */
const SLUG_MARKER = '.tsforeman-slug';

/** Files and folders of this package that make up the buildpack (and the copy it can put in a slug). */
const BUILDPACK_PARTS = [
  'bin/detect',
  'bin/compile',
  'bin/release',
  'bin/build',
  'bin/test-compile',
  'bin/test',
  'buildpack.toml',
  'bin/tsforeman',
  'bin/tsunicorn',
  'buildpack',
  'package.json',
  'package-lock.json',
  'dist',
  'tsconfig.json',
  'procfile',
  'runtime',
];

/** The root of this package: the folder holding buildpack/compile.sh (from dist/ or from sources). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'buildpack', 'compile.sh')) && existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the buildpack (buildpack/compile.sh) above ' + import.meta.url);
    dir = parent;
  }
}

/**
 * Copies the buildpack into `dest`, as a platform does before running it: bin/compile may write an
 * `export` file into its own folder, which must not land in the installed package. The files are hard
 * links where the file system allows (the buildpack only adds files to its folder, never rewrites one),
 * else copies.
 */
export async function stageBuildpack(dest: string, root = packageRoot()): Promise<string> {
  await mkdir(path.join(dest, 'bin'), { recursive: true });
  let linking = true;
  const stage = async (from: string, to: string): Promise<void> => {
    const entry = await lstat(from);
    if (entry.isDirectory()) {
      await mkdir(to, { recursive: true });
      for (const name of await readdir(from)) await stage(path.join(from, name), path.join(to, name));
      return;
    }
    if (linking && entry.isFile()) {
      try {
        await link(from, to);
        return;
      } catch (error) {
        if (!['EXDEV', 'EPERM', 'EACCES', 'EMLINK', 'ENOTSUP'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
        linking = false;
      }
    }
    await cp(from, to, { verbatimSymlinks: true });
  };
  for (const part of BUILDPACK_PARTS) {
    const from = path.join(root, part);
    if (existsSync(from)) await stage(from, path.join(dest, part));
  }
  return dest;
}

/** `<APP_DIR>/../<app>-slug`: next to the app, where it is easy to find and to delete. */
function defaultSlugDir(appDir: string): string {
  const app = path.resolve(appDir);
  return path.join(path.dirname(app), `${path.basename(app)}-slug`);
}

/** `$XDG_CACHE_HOME/tsforeman/<app>-<hash of its path>` (else ~/.cache/...): one cache per app. */
function defaultCacheDir(appDir: string, environment: NodeJS.ProcessEnv): string {
  const app = path.resolve(appDir);
  const base = environment.XDG_CACHE_HOME || path.join(environment.HOME || os.homedir(), '.cache');
  const id = createHash('sha256').update(app).digest('hex').slice(0, 8);
  return path.join(base, 'tsforeman', `${path.basename(app)}-${id}`);
}

/**
 * Reads the `default_process_types` of bin/release's output. That is our own release.sh, whose
 * format is fixed: `  name: "command"` lines, the command quoted as JSON would (a YAML double-quoted
 * scalar), so JSON.parse reads it and the `yaml` package (a devDependency) is not needed at run time.
 */
function parseReleaseYaml(text: string): Record<string, string> {
  const types: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const entry = /^ {2}([A-Za-z0-9_-]+): (".*")$/.exec(line);
    if (!entry) continue;
    try {
      types[entry[1]!] = JSON.parse(entry[2]!) as string;
    } catch {
      throw new BuildFailedError(`bin/release printed a value tsforeman cannot read: ${line.trim()}`);
    }
  }
  return types;
}

/**
 * Empties `slugDir` and copies the app into it. The old slug is renamed aside (`.<name>.tsforeman-old-<pid>`
 * next to it) and deleted while the build runs: `oldSlugRemoved` ends with that deletion.
 */
async function prepareSlugDir(appDir: string, slugDir: string): Promise<{ oldSlugRemoved: Promise<void> }> {
  if (slugDir === appDir) throw new UserError(`--out ${slugDir} is the app directory itself; choose another folder`);
  if (appDir.startsWith(slugDir + path.sep)) {
    throw new UserError(`--out ${slugDir} contains the app directory; choose another folder`);
  }
  if (existsSync(slugDir)) {
    if (!statSync(slugDir).isDirectory()) throw new UserError(`--out ${slugDir} exists and is not a directory`);
    const entries = await readdir(slugDir);
    if (entries.length > 0 && !entries.includes(SLUG_MARKER)) {
      throw new UserError(`refusing to replace ${slugDir}: it is not empty and was not made by tsforeman build (use --out)`);
    }
  }
  // Left by a build that was interrupted while it deleted the slug before it.
  const parent = path.dirname(slugDir);
  const asidePrefix = `.${path.basename(slugDir)}.tsforeman-old-`;
  const siblings = existsSync(parent) ? await readdir(parent) : [];
  const aside = siblings.filter((name) => name.startsWith(asidePrefix)).map((name) => path.join(parent, name));
  if (existsSync(slugDir)) {
    const old = path.join(parent, `${asidePrefix}${process.pid}`);
    await rm(old, { recursive: true, force: true });
    await rename(slugDir, old);
    aside.push(old);
  }
  const removed = Promise.all(aside.map((dir) => rm(dir, { recursive: true, force: true }))).then(
    () => undefined,
    (error: Error) => void process.stderr.write(` !     Warning: the previous slug could not be deleted (${error.message}); delete ${aside.join(' ')} by hand\n`),
  );
  // What a git push would not carry: the repository itself and installed modules.
  await cp(appDir, slugDir, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (source) => {
      if (source === slugDir || source.startsWith(slugDir + path.sep)) return false;
      const name = path.basename(source);
      return !(source !== appDir && (name === '.git' || name === 'node_modules'));
    },
  });
  await writeFile(path.join(slugDir, SLUG_MARKER), 'made by tsforeman build; the next build replaces this folder\n');
  return { oldSlugRemoved: removed };
}

/** Runs detect, compile and release with their output on this process's stdout/stderr. */
export async function buildApp(options: BuildOptions, environment: NodeJS.ProcessEnv): Promise<BuildResult> {
  const appDir = path.resolve(options.appDir);
  if (!existsSync(appDir) || !statSync(appDir).isDirectory()) throw new UserError(`app directory not found: ${appDir}`);
  const slugDir = path.resolve(options.outDir ?? defaultSlugDir(appDir));
  const cacheDir = path.resolve(options.cacheDir ?? defaultCacheDir(appDir, environment));

  const work = await mkdtemp(path.join(os.tmpdir(), 'tsforeman-build-'));
  let oldSlugRemoved: Promise<void> = Promise.resolve();
  try {
    const buildpack = await stageBuildpack(path.join(work, 'buildpack'));
    const envDir = path.join(work, 'env');
    await mkdir(envDir);
    // Loaded by the one command that runs the buildpack, not at every tsforeman start-up.
    const { execa } = await import('execa');
    const run = (script: string, args: string[], capture: boolean) =>
      execa(path.join(buildpack, 'bin', script), args, {
        env: environment,
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
        stdout: capture ? 'pipe' : 'inherit',
        stderr: 'inherit',
      });

    const detected = await run('detect', [appDir], true);
    if (detected.exitCode !== 0) {
      throw new UserError(`${appDir} is not a Node.js app (no package.json): the buildpack does not apply`);
    }
    ({ oldSlugRemoved } = await prepareSlugDir(appDir, slugDir));
    await mkdir(cacheDir, { recursive: true });
    process.stdout.write(`-----> Building ${appDir}\n       slug: ${slugDir}\n       cache: ${cacheDir}\n`);

    const compiled = await run('compile', [slugDir, cacheDir, envDir], false);
    if (compiled.exitCode !== 0) {
      throw new BuildFailedError(`build failed: bin/compile exited with status ${compiled.exitCode ?? compiled.signal}`);
    }

    const released = await run('release', [slugDir], true);
    if (released.exitCode !== 0) throw new BuildFailedError(`build failed: bin/release exited with status ${released.exitCode}`);
    const defaultProcessTypes = parseReleaseYaml(String(released.stdout));

    let wroteProcfile = false;
    const procfile = path.join(slugDir, 'Procfile');
    if (!existsSync(procfile)) {
      const lines = Object.entries(defaultProcessTypes).map(([name, command]) => `${name}: ${command}\n`);
      if (lines.length === 0) throw new BuildFailedError('the app has no Procfile and bin/release proposed no process type');
      await writeFile(procfile, lines.join(''));
      wroteProcfile = true;
      process.stdout.write(`-----> Wrote a default Procfile\n${lines.map((line) => `       ${line}`).join('')}`);
    }
    process.stdout.write(`-----> Slug ready: ${slugDir}\n       run it with: cd ${slugDir} && tsforeman start\n`);
    return { slugDir, cacheDir, defaultProcessTypes, wroteProcfile };
  } finally {
    await Promise.all([rm(work, { recursive: true, force: true }), oldSlugRemoved]);
  }
}

interface BuildCommandOptions {
  cache?: string;
  out?: string;
}

/** Adds `tsforeman build [APP_DIR] [--cache DIR] [--out DIR]` to the CLI. */
export function registerBuildCommand(program: Command): void {
  program
    .command('build')
    .description('build an app with the buildpack into a slug directory, as Heroku or Dokku would')
    .argument('[app_dir]', 'the app to build', '.')
    .option('--cache <dir>', 'cache kept between builds (default: $XDG_CACHE_HOME/tsforeman/<app>-<hash>)')
    .option('--out <dir>', 'the slug directory to write (default: <app_dir>/../<app>-slug)')
    .action(async (appDir: string, options: BuildCommandOptions) => {
      await buildApp({ appDir, cacheDir: options.cache, outDir: options.out }, process.env);
    });
}
