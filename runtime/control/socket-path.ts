/**
 * Where the control socket lives. `--control-socket PATH` names it; by default it is a file in a
 * directory of the user's own (mode 0700), named after the folder the master started in and the
 * addresses it listens on, so two masters of one folder (tsforeman's web.1 and web.2, each on its own
 * $PORT) never share one, and `tsunicornc` run in that folder finds it:
 *
 *   $XDG_RUNTIME_DIR/tsunicorn/shop-1a2b3c4d-8000-9f8e7d6c.sock     (else $TMPDIR or /tmp, tsunicorn-UID/)
 *
 *   const file = defaultSocketPath(cwd, ['http://127.0.0.1:8000'], env);   // for the master
 *   const candidates = socketsOfFolder(cwd, env);                         // for tsunicornc
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

type Environment = Readonly<Record<string, string | undefined>>;

/** sun_path holds 108 bytes on Linux, 104 on macOS and the BSDs, the terminating NUL included. */
export const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

/** A problem with the socket's directory or name: one line. */
export class SocketPathError extends Error {}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

function uid(): number {
  return process.getuid?.() ?? 0;
}

/** The user's own directory for control sockets (not created here). */
export function socketDirectory(env: Environment): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && path.isAbsolute(runtime) && lstatSync(runtime, { throwIfNoEntry: false })?.isDirectory()) return path.join(runtime, 'tsunicorn');
  const temporary = env.TMPDIR && path.isAbsolute(env.TMPDIR) ? env.TMPDIR : '/tmp';
  return path.join(temporary, `tsunicorn-${uid()}`);
}

/** The file names' start for one folder: a readable part of its name, then a hash of its whole path. */
function folderPrefix(cwd: string): string {
  const name = path.basename(cwd).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 20) || 'root';
  return `${name}-${shortHash(cwd)}-`;
}

/**
 * The master's default socket: the folder it started in and the addresses it listens on (the real
 * ones, so two masters on port 0 differ too). The first port is in the name for whoever lists the
 * directory, the hash of every address makes it unique.
 */
export function defaultSocketPath(cwd: string, urls: readonly string[], env: Environment): string {
  const first = urls[0] ?? '';
  const port = /:(\d+)$/.exec(first)?.[1] ?? 'unix';
  return path.join(socketDirectory(env), `${folderPrefix(cwd)}${port}-${shortHash(urls.join(' '))}.sock`);
}

/**
 * Creates the directory of the default socket (mode 0700) if needed, and refuses one that another
 * user could write to or that is not a plain directory: a socket there could be swapped for another.
 */
export function prepareSocketDirectory(directory: string): void {
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const stat = lstatSync(directory);
  if (!stat.isDirectory()) throw new SocketPathError(`${directory} is not a directory`);
  if (stat.uid !== uid()) throw new SocketPathError(`${directory} belongs to uid ${stat.uid}, not to this user (${uid()})`);
  if ((stat.mode & 0o077) !== 0) throw new SocketPathError(`${directory} is open to other users (mode ${(stat.mode & 0o777).toString(8)}; expected 700)`);
}

export function checkSocketPathLength(file: string): void {
  const bytes = Buffer.byteLength(file);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new SocketPathError(`${file} is too long for a Unix socket (${bytes} bytes, at most ${MAX_SOCKET_PATH_BYTES})`);
  }
}

/** The default sockets of masters started in `cwd` (live or stale: the caller asks them). */
export function socketsOfFolder(cwd: string, env: Environment): string[] {
  const directory = socketDirectory(env);
  const prefix = folderPrefix(cwd);
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch {
    return [];
  }
  return names.filter((name) => name.startsWith(prefix) && name.endsWith('.sock')).sort().map((name) => path.join(directory, name));
}

/** What tsunicornc names when it finds no socket for this folder. */
export function folderPattern(cwd: string, env: Environment): string {
  return path.join(socketDirectory(env), `${folderPrefix(cwd)}*.sock`);
}
