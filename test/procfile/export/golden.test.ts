import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { DEMO, exportDemo, GOLDEN, GOLDEN_ARGS, readTree, removeTempDirs } from './helpers.js';

/**
 * Every format exported from test/fixtures/export/demo (a Procfile plus a .env whose values hold
 * `%`, quotes, spaces, `$`, backslashes) must match the files under golden/FORMAT byte for byte,
 * with the fixture's absolute path written as {ROOT}. After a deliberate change, rewrite them with
 * `UPDATE_GOLDEN=1 npx mocha test/procfile/export/golden.test.ts` and review the diff.
 */
describe('tsforeman export: golden files', () => {
  afterEach(removeTempDirs);

  for (const format of Object.keys(GOLDEN_ARGS)) {
    it(`${format} matches golden/${format}`, () => {
      const actual = readTree(exportDemo(format));
      const normalized = new Map([...actual].map(([path, file]) => [path, { ...file, content: file.content.replaceAll(DEMO, '{ROOT}') }]));
      const goldenDir = join(GOLDEN, format);

      if (process.env.UPDATE_GOLDEN === '1') {
        rmSync(goldenDir, { recursive: true, force: true });
        for (const [path, file] of normalized) {
          mkdirSync(dirname(join(goldenDir, path)), { recursive: true });
          writeFileSync(join(goldenDir, path), file.content);
          chmodSync(join(goldenDir, path), file.mode);
        }
      }

      const golden = readTree(goldenDir);
      expect([...normalized.keys()]).to.deep.equal([...golden.keys()]);
      for (const [path, file] of normalized) {
        expect(file.content, path).to.equal(golden.get(path)?.content);
        expect(file.mode.toString(8), `mode of ${path}`).to.equal(golden.get(path)?.mode.toString(8));
      }
    });
  }
});
