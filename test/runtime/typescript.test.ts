/**
 * TypeScript apps and config files with no build step, in a CommonJS package (what `npm init` writes) and
 * in an ES module package: through tsx when it is installed, and through Node's own type stripping when it
 * is not (a copy of the package installed without tsx, as `npm install tsforeman` leaves it).
 */
import { expect } from 'chai';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, TsunicornProcess, request, stopAllServers } from './tsunicorn-process.js';

const nodeStripsTypes = Boolean((process.features as { typescript?: string | false }).typescript);

/** An app using TypeScript that only a compiler handles (enum, parameter properties) and an extensionless import. */
const FULL_TYPESCRIPT_APP = `import type { IncomingMessage, ServerResponse } from 'node:http';
import { greet } from './greet';

enum Kind { Plain = 'plain', Typed = 'typed' }

class Responder {
  constructor(private readonly kind: Kind) {}
  answer(res: ServerResponse): void {
    res.end(greet(this.kind));
  }
}

const responder = new Responder(Kind.Typed);
export default function app(req: IncomingMessage, res: ServerResponse): void {
  responder.answer(res);
}
`;

/** Erasable syntax only, imports with their extension: what Node's type stripping loads. */
const ERASABLE_APP = `import type { IncomingMessage, ServerResponse } from 'node:http';
import { greet } from './greet.ts';

interface Options { kind: string }
const options: Options = { kind: 'stripped' };

export default function app(req: IncomingMessage, res: ServerResponse): void {
  res.end(greet(options.kind));
}
`;

const GREET = "export function greet(kind: string): string {\n  return `hello from a ${kind} TypeScript app\\n`;\n}\n";

const CONFIG = `interface Config { bind: string; workers: number }
const config: Config = { bind: '127.0.0.1:0', workers: 2 };
export default config;
`;

const MTS_APP = `import type { IncomingMessage, ServerResponse } from 'node:http';
const text: string = 'mts app\\n';
export default (req: IncomingMessage, res: ServerResponse): void => {
  res.end(text);
};
`;

const CTS_APP = `import type { IncomingMessage, ServerResponse } from 'node:http';
const text: string = 'cts app\\n';
module.exports = (req: IncomingMessage, res: ServerResponse): void => {
  res.end(text);
};
`;

function writePackage(directory: string, type: 'commonjs' | 'module', files: Record<string, string>): void {
  mkdirSync(directory, { recursive: true });
  // What `npm init -y` writes (npm >= 11 says "type": "commonjs" explicitly), or with "type": "module".
  writeFileSync(path.join(directory, 'package.json'), JSON.stringify({ name: path.basename(directory), version: '1.0.0', main: 'index.js', type }, null, 2));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(directory, name), text);
}

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

describe('tsunicorn with TypeScript, no build step', function () {
  this.timeout(30000);
  let directory: string;
  before(() => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-typescript-'));
  });
  after(() => rmSync(directory, { recursive: true, force: true }));
  afterEach(stopAllServers);

  for (const type of ['commonjs', 'module'] as const) {
    it(`with tsx installed: app.ts and tsunicorn.config.ts in a "type": "${type}" package, plus .mts and .cts apps`, async () => {
      const app = path.join(directory, `tsx-${type}`);
      writePackage(app, type, { 'app.ts': FULL_TYPESCRIPT_APP, 'greet.ts': GREET, 'tsunicorn.config.ts': CONFIG, 'web.mts': MTS_APP, 'web.cts': CTS_APP });
      // No -b and no -w: both come from tsunicorn.config.ts.
      const server = await TsunicornProcess.start(['app.ts'], { cwd: app });
      // Counted from the log: tsx's esbuild service is a child process of the master too.
      await server.waitFor(/Booting worker with pid/, 2);
      expect((await request(server.url, '/')).body).to.equal('hello from a typed TypeScript app\n');
      for (const [file, body] of [['web.mts', 'mts app\n'], ['web.cts', 'cts app\n']]) {
        const other = await TsunicornProcess.start([file!, '-w', '1'], { cwd: app });
        expect((await request(other.url, '/')).body).to.equal(body);
      }
    });
  }

  describe('without tsx', () => {
    let bin: string;
    let app: string;
    before(() => {
      app = path.join(directory, 'without-tsx');
      mkdirSync(app);
      bin = installWithoutTsx(app);
    });
    const start = (cwd: string, args: string[], listening = 1) =>
      TsunicornProcess.start(args, { cwd, bin, listening });

    if (nodeStripsTypes) {
      it(`Node ${process.versions.node} strips the types of app.ts, tsunicorn.config.ts, .mts and .cts itself`, async () => {
        const esm = path.join(app, 'esm');
        writePackage(esm, 'module', { 'app.ts': ERASABLE_APP, 'greet.ts': GREET, 'tsunicorn.config.ts': CONFIG, 'web.mts': MTS_APP, 'web.cts': CTS_APP });
        const server = await start(esm, ['app.ts']);
        await server.waitForWorkers(2);
        expect((await request(server.url, '/')).body).to.equal('hello from a stripped TypeScript app\n');
        for (const [file, body] of [['web.mts', 'mts app\n'], ['web.cts', 'cts app\n']]) {
          const other = await start(esm, [file!, '-w', '1']);
          expect((await request(other.url, '/')).body).to.equal(body);
        }
      });

      const failures: [string, 'commonjs' | 'module', string, RegExp][] = [
        ['import/export in a "type": "commonjs" package', 'commonjs', ERASABLE_APP, /app\.ts uses import\/export in a CommonJS package \("type": "commonjs" in .*package\.json\), which Node's type stripping cannot load: npm install tsx .*or rename the file to \.mts$/],
        ['an enum and parameter properties', 'module', FULL_TYPESCRIPT_APP.replace("'./greet'", "'./greet.ts'"), /only strips erasable TypeScript syntax: npm install tsx, which tsunicorn uses when present\)$/],
        ['an import without its extension', 'module', ERASABLE_APP.replace("'./greet.ts'", "'./greet'"), /Cannot find module '.*\/greet' .*imports name the file with its extension, '\.\/routes\.ts'; or npm install tsx\)$/],
      ];
      for (const [what, type, source, message] of failures) {
        it(`names tsx when app.ts needs more than type stripping: ${what} (status 4)`, async () => {
          const project = path.join(app, what.replace(/\W+/g, '-'));
          writePackage(project, type, { 'app.ts': source, 'greet.ts': GREET });
          const server = await start(project, ['app.ts', '-b', '127.0.0.1:0']);
          expect((await server.waitForExit()).code).to.equal(4);
          expect(server.stderr.filter((line) => /\[ERROR\] App failed to load/.test(line))).to.have.length(1);
          expect(server.stderr.find((line) => /App failed to load/.test(line))).to.match(message);
        });
      }
    } else {
      it(`Node ${process.versions.node}: a .ts app or config is one line naming tsx (status 4 / 2)`, async () => {
        const cjs = path.join(app, 'cjs');
        writePackage(cjs, 'commonjs', { 'app.ts': ERASABLE_APP, 'greet.ts': GREET });
        const server = await start(cjs, ['app.ts', '-b', '127.0.0.1:0']);
        expect((await server.waitForExit()).code).to.equal(4);
        expect(server.stderr.find((line) => /App failed to load/.test(line))).to.match(
          new RegExp(`app\\.ts is TypeScript and Node ${process.versions.node} cannot load it by itself: npm install tsx \\(or use Node >= 22\\.18, which strips types\\)$`),
        );
        writeFileSync(path.join(cjs, 'tsunicorn.config.ts'), CONFIG);
        const withConfig = await start(cjs, ['app.ts'], 0);
        expect((await withConfig.waitForExit()).code).to.equal(2);
        expect(withConfig.stderr).to.deep.equal([`${path.join(cjs, 'tsunicorn.config.ts')}: cannot load config: tsunicorn.config.ts is TypeScript and Node ${process.versions.node} cannot load it by itself: npm install tsx (or use Node >= 22.18, which strips types)`]);
      });
    }
  });
});
