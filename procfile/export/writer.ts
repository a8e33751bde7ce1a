import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import { ownerMarker, type Exporter, type ExportOutput } from './exporter.js';

/** Paths (relative to the export folder) written and removed by one export. */
export interface WriteReport {
  written: string[];
  removed: string[];
}

/**
 * Writes an export into `outDir`, then removes this app's files from an earlier export that this
 * one no longer writes. An entry is removed only when it follows the format's naming for the app
 * AND carries the app's marker, so other apps' files and the user's own files are never touched.
 *
 *   writeExport('/etc/systemd/system', 'demo', systemdExporter, output)  // { written, removed }
 */
export function writeExport(outDir: string, app: string, exporter: Exporter, output: ExportOutput): WriteReport {
  guard(outDir, () => mkdirSync(outDir, { recursive: true }));
  if (!statSync(outDir).isDirectory()) throw new UserError(`export folder is not a directory: ${outDir}`);

  for (const dir of output.replaceDirs) guard(dir, () => rmSync(join(outDir, dir), { recursive: true, force: true }));
  for (const file of output.files) {
    const path = join(outDir, file.path);
    guard(file.path, () => {
      mkdirSync(dirname(path), { recursive: true });
      // writeFileSync's mode only applies to new files: an existing one gets its mode first, so a
      // file that now holds secrets is never readable by others with the new content in it.
      if (existsSync(path)) chmodSync(path, file.mode);
      writeFileSync(path, file.content, { mode: file.mode });
      chmodSync(path, file.mode);
    });
  }

  const kept = new Set(output.files.map((file) => file.path.split('/')[0]));
  const removed: string[] = [];
  for (const entry of readdirSync(outDir).sort()) {
    if (kept.has(entry)) continue;
    const markerFile = exporter.markerFileFor(entry, app);
    if (markerFile === undefined || !carriesMarker(join(outDir, markerFile), app)) continue;
    guard(entry, () => rmSync(join(outDir, entry), { recursive: true, force: true }));
    removed.push(entry);
  }
  return { written: output.files.map((file) => file.path), removed };
}

function carriesMarker(file: string, app: string): boolean {
  if (!existsSync(file) || !statSync(file).isFile()) return false;
  return readFileSync(file, 'utf8').includes(ownerMarker(app));
}

function guard(path: string, action: () => void): void {
  try {
    action();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOTDIR' || code === 'EEXIST') {
      throw new UserError(`cannot write ${path}: ${(error as Error).message}`);
    }
    throw error;
  }
}
