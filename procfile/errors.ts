/**
 * Errors a user can cause (a bad Procfile, a missing env file, a bad flag).
 * The CLI prints `message` alone, with no stack, and exits with `exitCode`.
 *
 *   throw new UserError('Procfile not found: ./Procfile (use -f to name another)');
 */
export class UserError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}

/** A mistake in an input file, reported as `file:line: message`. */
export class FileLineError extends UserError {
  readonly file: string;
  readonly line: number;

  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = 'FileLineError';
    this.file = file;
    this.line = line;
  }
}
