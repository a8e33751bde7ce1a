import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { DEMO, expectedHostPath, exportDemo, GOLDEN, GOLDEN_ARGS, readTree, removeTempDirs } from './helpers.js';

/**
 * Every format exported from test/fixtures/export/demo (a Procfile plus a .env whose values hold
 * `%`, quotes, spaces, `$`, backslashes) must match the files under golden/FORMAT byte for byte,
 * with the host PATH (which names this checkout and the node running the tests) written as {PATH},
 * the export folder as {OUT} and the fixture's absolute path as {ROOT}. After a deliberate change, rewrite them with
 * `UPDATE_GOLDEN=1 npx mocha test/procfile/export/golden.test.ts` and review the diff.
 */
describe('tsforeman export: golden files', () => {
  afterEach(removeTempDirs);

  for (const format of Object.keys(GOLDEN_ARGS)) {
    it(`${format} matches golden/${format}`, () => {
      const out = exportDemo(format);
      const actual = readTree(out);
      const normalize = (content: string) =>
        content.replaceAll(expectedHostPath(DEMO), '{PATH}').replaceAll(out, '{OUT}').replaceAll(DEMO, '{ROOT}');
      const normalized = new Map([...actual].map(([path, file]) => [path, { ...file, content: normalize(file.content) }]));
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
        // git keeps only whether a file is executable; the exact modes (0600 for secrets) are
        // checked by secrets.test.ts.
        expect(file.mode & 0o100, `executable bit of ${path}`).to.equal((golden.get(path)?.mode ?? 0) & 0o100);
      }
    });
  }
});
