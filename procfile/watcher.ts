import { relative, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { minimatch } from 'minimatch';

/** Folders never watched: dependencies and version control churn without being the app's code. */
const IGNORED_SEGMENT = /(^|[/\\])(node_modules|\.git)([/\\]|$)/;

export interface ChangeWatcherOptions {
  root: string;
  /** Only paths (relative to root) matching this glob count, e.g. `**\/*.js`; all files when absent. */
  glob?: string;
  /** Changes closer together than this are reported as one batch. */
  debounceMs: number;
  /** Called once per batch with the changed paths, relative to root, sorted. */
  onChange: (paths: string[]) => void;
  onError: (error: Error) => void;
}

/**
 * Watches the files under a folder (chokidar) and reports changes in debounced batches:
 *
 *   const watcher = new ChangeWatcher({ root, debounceMs: 300, onChange: (paths) => ..., onError });
 *   await watcher.ready();   // initial scan done: changes from now on are reported
 *   await watcher.close();
 */
export class ChangeWatcher {
  private readonly options: ChangeWatcherOptions;
  private readonly watcher: FSWatcher;
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private readonly isReady: Promise<void>;

  constructor(options: ChangeWatcherOptions) {
    this.options = options;
    this.watcher = watch(options.root, {
      ignoreInitial: true,
      ignored: (path: string) => IGNORED_SEGMENT.test(relative(options.root, path)),
    });
    this.isReady = new Promise((resolve) => this.watcher.once('ready', () => resolve()));
    this.watcher.on('all', (_event, path) => this.record(path));
    this.watcher.on('error', (error) => options.onError(error as Error));
  }

  ready(): Promise<void> {
    return this.isReady;
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.watcher.close();
  }

  private record(path: string): void {
    const shown = relative(this.options.root, path).split(sep).join('/');
    if (shown === '' || IGNORED_SEGMENT.test(shown)) return;
    if (this.options.glob !== undefined && !minimatch(shown, this.options.glob, { dot: true })) return;
    this.pending.add(shown);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.emit(), this.options.debounceMs);
  }

  private emit(): void {
    this.timer = null;
    const paths = [...this.pending].sort();
    this.pending.clear();
    if (paths.length > 0) this.options.onChange(paths);
  }
}

/** `a.js, b.js and 3 more`: a short list for a system line. */
export function describePaths(paths: readonly string[], shown = 3): string {
  if (paths.length <= shown) return paths.join(', ');
  return `${paths.slice(0, shown).join(', ')} and ${paths.length - shown} more`;
}
