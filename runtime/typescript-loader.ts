/**
 * Lets the current process import .ts/.mts/.cts files directly, through tsx's loader.
 * Registered once, only when a TypeScript module (app or config) is about to be imported.
 */
import { register } from 'tsx/esm/api';

let registered = false;

export function isTypeScriptFile(file: string): boolean {
  return /\.(c|m)?tsx?$/.test(file);
}

export function enableTypeScript(): void {
  if (registered) return;
  register();
  registered = true;
}
