/**
 * An app or config file that cannot load says where: file, line and column and the offending line for a
 * syntax error (the whole of node's or tsx's message), the app's own frame for an error thrown at import.
 * Each kind of file, with tsx in the process (a tsunicorn.config.ts registers it before the app loads)
 * and without tsx (the package installed into an app that has none).
 */
import { expect } from 'chai';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, TsunicornProcess, stopAllServers } from './tsunicorn-process.js';

const nodeStripsTypes = Boolean((process.features as { typescript?: string | false }).typescript);

const BAD_JS = 'export default (req, res) => {\n  res.end("x";\n};\n';
const BAD_CJS = 'module.exports = (req, res) => {\n  res.end("x";\n};\n';
const BAD_TS = 'const text: string = "x";\nexport default (req: unknown, res: { end(body: string): void }) => {\n  res.end(String(text);\n};\n';
const THROWS_JS = 'import "./helper.js";\nexport default (req, res) => res.end("ok");\n';
const HELPER_JS = 'function boom() {\n  throw new TypeError("boom at import");\n}\nboom();\n';
const THROWS_TS = 'import "./helper-ts.ts";\nexport default (req: unknown, res: { end(body: string): void }) => res.end("ok");\n';
const HELPER_TS = 'const reason: string = "boom at import";\nfunction boom(): never {\n  throw new TypeError(reason);\n}\nboom();\n';
const GOOD_CONFIG_TS = "const workers: number = 1;\nexport default { workers, bind: '127.0.0.1:0' };\n";

/** tsforeman as installed into an app without tsx: the built package, its other dependencies linked. */
function installWithoutTsx(app: string): string {
  const installed = path.join(app, 'node_modules', 'tsforeman');
  mkdirSync(installed, { recursive: true });
  for (const part of ['bin', 'dist', 'package.json']) cpSync(path.join(ROOT, part), path.join(installed, part), { recursive: true });
  for (const name of readdirSync(path.join(ROOT, 'node_modules'))) {
    if (name === 'tsx' || name === 'esbuild' || name === '@esbuild' || name.startsWith('.')) continue;
    symlinkSync(path.join(ROOT, 'node_modules', name), path.join(app, 'node_modules', name));
  }
  return path.join(installed, 'bin', 'tsunicorn');
}

describe('load errors that say where', function () {
  this.timeout(30000);
  let directory: string;
  before(() => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-load-errors-'));
  });
  after(() => rmSync(directory, { recursive: true, force: true }));
  afterEach(stopAllServers);

  for (const withTsx of [true, false]) {
    describe(withTsx ? 'with tsx' : 'without tsx', () => {
      let app: string;
      let bin: string | undefined;
      before(() => {
        app = path.join(directory, withTsx ? 'tsx' : 'plain');
        mkdirSync(app);
        writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', type: 'module' }));
        for (const [name, text] of Object.entries({ 'bad.js': BAD_JS, 'bad.mjs': BAD_JS, 'bad.cjs': BAD_CJS, 'bad.ts': BAD_TS,
          'throws.js': THROWS_JS, 'helper.js': HELPER_JS, 'throws.ts': THROWS_TS, 'helper-ts.ts': HELPER_TS })) {
          writeFileSync(path.join(app, name), text);
        }
        if (withTsx) writeFileSync(path.join(app, 'tsunicorn.config.ts'), GOOD_CONFIG_TS);
        else bin = installWithoutTsx(app);
      });

      /** Runs tsunicorn to its end and returns its status and the lines of its error report. */
      async function fails(args: string[]): Promise<{ code: number | null; lines: string[] }> {
        const server = await TsunicornProcess.start([...args, ...(withTsx ? [] : ['-b', '127.0.0.1:0'])], { cwd: app, bin, listening: 0 });
        const { code } = await server.waitForExit();
        return { code, lines: server.stderr.filter((line) => line !== '' && !/\[INFO\]/.test(line)) };
      }

      for (const file of ['bad.js', 'bad.mjs', 'bad.cjs']) {
        it(`${file}: file:line:column, the offending line and a caret (status 4)`, async () => {
          const { code, lines } = await fails([file]);
          expect(code).to.equal(4);
          expect(lines).to.have.length(3);
          expect(lines[0]).to.match(/\[ERROR\] App failed to load: /);
          expect(lines[0]).to.have.string(`cannot load app ${file}: SyntaxError: missing ) after argument list (${path.join(app, file)}:2:11)`);
          expect(lines.slice(1)).to.deep.equal(['  res.end("x";', '          ^^^']);
        });
      }

      it('bad.ts: the whole of the TypeScript loader\'s message with file:line:column, the offending line and a caret (status 4)', async function () {
        if (!withTsx && !nodeStripsTypes) this.skip(); // Node 20 without tsx: no TypeScript at all (typescript.test.ts)
        const { code, lines } = await fails(['bad.ts']);
        expect(code).to.equal(4);
        const report = lines.join('\n');
        if (withTsx) {
          expect(lines[0]).to.have.string('cannot load app bad.ts: TransformError: Transform failed with 1 error:');
          expect(lines[1]).to.equal(`${path.join(app, 'bad.ts')}:3:22: ERROR: Expected ")" but found ";"`);
        } else {
          // Node's type stripping, with tsunicorn's advice on the first line, then Node's place.
          expect(lines[0]).to.match(/cannot load app bad\.ts: Expected ',', got ';' \(Node .* only strips erasable TypeScript syntax: npm install tsx, which tsunicorn uses when present\)$/);
          expect(lines[1]).to.equal(`${path.join(app, 'bad.ts')}:3:23`);
        }
        expect(report).to.have.string('\n  res.end(String(text);\n');
        expect(lines.at(-1)).to.equal(`${' '.repeat(22)}^`);
      });

      it('an error thrown at import keeps the first frame in the app (status 4)', async function () {
        const { code, lines } = await fails(['throws.js']);
        expect(code).to.equal(4);
        expect(lines).to.have.length(1);
        expect(lines[0]).to.have.string(`cannot load app throws.js: TypeError: boom at import (${path.join(app, 'helper.js')}:2:9)`);
        if (!withTsx && !nodeStripsTypes) return;
        const typed = await fails(['throws.ts']);
        expect(typed.code).to.equal(4);
        // Mapped back to the TypeScript source's line.
        expect(typed.lines[0]).to.match(new RegExp(`cannot load app throws\\.ts: TypeError: boom at import \\(${path.join(app, 'helper-ts.ts')}:3:\\d+\\)`));
      });

      it('a config file with a syntax error: .js, and .ts when TypeScript loads (status 2)', async () => {
        const configs: [string, string, string[]][] = [
          ['broken.config.js', 'export const workers = (2;\n', ["SyntaxError: Unexpected token ';'", ':1:26)', 'export const workers = (2;', `${' '.repeat(25)}^`]],
        ];
        if (withTsx || nodeStripsTypes) {
          configs.push(['broken.config.ts', 'const w: number = 2;\nexport const workers = (w;\n', [':2:', 'export const workers = (w;', `${' '.repeat(25)}^`]]);
        }
        for (const [name, text, expected] of configs) {
          writeFileSync(path.join(app, name), text);
          const { code, lines } = await fails(['-c', name, 'bad.js']);
          expect(code, name).to.equal(2);
          expect(lines[0], name).to.have.string(`${path.join(app, name)}: cannot load config: `);
          const report = lines.join('\n');
          for (const part of expected) expect(report, name).to.have.string(part);
          expect(lines.at(-1), name).to.equal(expected.at(-1));
        }
      });
    });
  }
});
