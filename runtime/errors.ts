/**
 * Errors a user can cause. Each carries a one-line message and the exit status the CLI uses:
 * 2 for bad settings, 1 for a bind failure, 4 for an app that cannot load, 3 for other boot errors.
 */
export class TsunicornError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = new.target.name;
  }
}

/** A bad flag, environment value or config-file entry (exit 2). */
export class SettingsError extends TsunicornError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** A listening address that cannot be bound (exit 1). */
export class BindError extends TsunicornError {
  constructor(message: string) {
    super(message, 1);
  }
}

/** The app module cannot be loaded or exports nothing usable (exit 4, gunicorn's APP_LOAD_ERROR). */
export class AppLoadError extends TsunicornError {
  constructor(message: string) {
    super(message, 4);
  }
}

/** Any other failure while a worker boots (exit 3, gunicorn's WORKER_BOOT_ERROR). */
export class BootError extends TsunicornError {
  constructor(message: string) {
    super(message, 3);
  }
}

export const EXIT_BOOT_ERROR = 3;
export const EXIT_APP_LOAD_ERROR = 4;

/**
 * What to report of an error: a TsunicornError's whole message (ours are one line, but for the place and
 * offending line of a syntax error), the first line of any other.
 */
export function reportOf(error: unknown): string {
  return error instanceof TsunicornError ? error.message.trimEnd() : firstLine(error);
}

/** The first line of an error's message, for one-line reports. */
export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n').find((line) => line.trim() !== '')?.trim() ?? 'unknown error';
}

/** How a value is named in a one-line message: `a function (app)`, `an object (Router)`, `undefined`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  return typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`;
}
