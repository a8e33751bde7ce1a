// The buildpack's bash parts on their own: the JSON reader, semver ranges, the index parser and the
// .profile.d script (run with bash, as on a build image / a dyno).
import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { makeTempDir, removeDir, REPO_ROOT } from './harness.js';

const PARTS = path.join(REPO_ROOT, 'buildpack');

async function bash(script: string, args: string[] = [], env: Record<string, string> = {}) {
  const result = await execa('bash', ['-c', script, 'bash', ...args], {
    reject: false,
    // Not a pipe: bash reads ~/.bashrc when its stdin is a socket (libuv pipes are), as under sshd.
    stdin: 'ignore',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    extendEnv: false,
  });
  return { code: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
}

describe('buildpack bash parts', function () {
  let dir: string;
  before(async () => {
    dir = await makeTempDir('bash-parts');
  });
  after(async () => {
    await removeDir(dir);
  });

  describe('json_read (package.json without node)', () => {
    /** Writes `text` (a string, or bytes) as package.json and prints "kind|value|line" per field. */
    async function read(text: string | Buffer, ...fields: string[]) {
      const file = path.join(dir, 'package.json');
      await writeFile(file, text);
      const script =
        `source "${PARTS}/json.sh"; json_read "$1" || { echo "ERR $JSON_ERROR"; exit 1; }; shift; ` +
        'for field; do json_get $field; printf "%s|%s|%s\\n" "$JSON_KIND" "$JSON_VALUE" "$JSON_LINE"; done';
      const result = await bash(script, [file, ...fields]);
      return { ...result, values: result.stdout.split('\n') };
    }

    it('reads top-level members and members of top-level objects, decoding escapes, with their line', async () => {
      const text =
        '{\n "engines": {"node": ">=18 <21"},\n "main": "dist/caf\\u00e9 \\"x\\" \\ud83d\\ude00.js",\n' +
        ' "n": [1, -2.5e3, true, null, {}],\n "deep": {"a": {"main": "no"}, "b": false}\n}\n';
      const result = await read(text, 'engines node', 'main', 'scripts start', 'n', 'deep', 'deep a', 'deep b', 'engines');
      expect(result.values).to.deep.equal([
        'string|>=18 <21|2',
        'string|dist/café "x" 😀.js|3',
        '||',
        'array||4',
        'object||5',
        'object||5',
        'boolean||5',
        'object||2',
      ]);
    });

    it('keeps nothing from inside arrays or deeper objects', async () => {
      const result = await read('{"engines": {"node": 20}, "list": [{"main": "no"}], "d": {"e": {"main": "no"}}}', 'engines node', 'main');
      expect(result.values).to.deep.equal(['number||1', '||']);
    });

    it('accepts a UTF-8 byte order mark at the start, as npm does, and nowhere else', async () => {
      const bom = Buffer.from([0xef, 0xbb, 0xbf]);
      const withBom = await read(Buffer.concat([bom, Buffer.from('{\n"main": "a.js"}')]), 'main');
      expect(withBom.values).to.deep.equal(['string|a.js|2']);
      const late = await read(Buffer.concat([Buffer.from(' '), bom, Buffer.from('{}')]));
      expect(late.code).to.equal(1);
      expect(late.stdout).to.match(/^ERR 1: unexpected '/);
    });

    it('a repeated name keeps its last value, as JSON.parse and npm do', async () => {
      const result = await read(
        '{"engines": {"node": "18"}, "main": "a.js", "engines": {}, "main": "b.js",' +
          ' "scripts": {"build": 1, "build": "tsc"}, "x": {"y": "1"}, "x": 2}',
        'engines node', 'engines', 'main', 'scripts build', 'x y', 'x',
      );
      expect(result.values).to.deep.equal(['||', 'object||1', 'string|b.js|1', 'string|tsc|1', '||', 'number||1']);
      const members = await bash(
        `source "${PARTS}/json.sh"; json_read "$1"; json_members scripts; echo "\${JSON_MEMBERS[*]}"`,
        [path.join(dir, 'package.json')],
      );
      expect(members.stdout).to.equal('build');
    });

    it('matches names after decoding them, and never mistakes a dotted name for a nested one', async () => {
      const result = await read('{"eng\\u0069nes": {"n\\u006fde": "20.x"}, "scripts.start": "no"}', 'engines node', 'scripts start');
      expect(result.values).to.deep.equal(['string|20.x|1', '||']);
    });

    // Accepted or refused exactly as JSON.parse does (the byte order mark aside).
    const corpus = [
      '{}', '[]', '"text"', '0', '-0', '1e5', '0.5E-3', '-1.25e+10', 'true', 'null', ' \r\n\t{ } \n',
      '{"a": "\\/\\b\\f\\n\\r\\t\\\\\\"\\u0041"}', '{"a": "\\ud800"}', '{"a": "\u007f"}', '{"a": [[], {}, [{"b": [1]}]]}',
      '{"": 1}', '{"a": 1, "a": 2}', '01', '1.', '.5', '+1', '1e', '-', '--1', '0x10', 'NaN', 'Infinity', 'True', 'nul',
      '{"a": "\\x41"}', '{"a": "\\u12"}', '{"a": "\\u00zz"}', "{'a': 1}", '{a: 1}', '{"a" 1}', '{"a": 1 "b": 2}',
      '[1,]', '[,1]', '{,}', '{"a": 1,}', '[1 2]', '{"a": "x\ty"}', '{"a": "x\ny"}', '\f{}', '{}\u000b', '"\u0000"',
      '{"a": [1, 2}', '{"a": {"b": 1]}', '[', ']', '{', '}', '"', '"abc', '{} {}', '{}}', '[[]]]',
    ];
    it(`accepts and refuses what JSON.parse does (${corpus.length} inputs)`, async () => {
      const expected = corpus.map((text) => {
        try {
          JSON.parse(text);
          return 'ok';
        } catch {
          return 'error';
        }
      });
      const files = corpus.map((text, i) => ({ file: path.join(dir, `corpus-${i}.json`), text }));
      await Promise.all(files.map(({ file, text }) => writeFile(file, text)));
      const result = await bash(`source "${PARTS}/json.sh"; for file; do json_read "$file" && echo ok || echo error; done`, files.map(({ file }) => file));
      expect(result.stdout.split('\n').map((verdict, i) => [corpus[i], verdict])).to.deep.equal(
        corpus.map((text, i) => [text, expected[i]]),
      );
    });

    const invalid: Array<[string, string, RegExp]> = [
      ['trailing comma', '{\n  "name": "x",\n  "main": "a.js",\n}\n', /^ERR 4: unexpected '}', a trailing comma before '}'/],
      ['trailing comma in an array', '{"a": [\n1,\n]}', /^ERR 3: unexpected '\]', a trailing comma before '\]'/],
      ['missing comma', '{\n  "name": "x"\n  "main": "a.js"\n}', /^ERR 3: unexpected '"', expected ',' or '}'/],
      ['leading zero', '{"a": 01}', /^ERR 1: unexpected '1'/],
      ['raw tab in a string', '{"a": "x\ty"}', /^ERR 1: .*string/],
      ['comment', '{\n// no\n}', /^ERR 2: unexpected '\/'/],
      ['single quotes', "{'a': 1}", /^ERR 1: .*key in double quotes/],
      ['empty file', '', /^ERR 1: the file is empty/],
      ['two values', '{} {}', /^ERR 1: .*end of the file/],
      ['unclosed', '{"a": [1, 2', /^ERR 1: unexpected end of file, expected ',' or '\]'/],
      ['NUL byte', '{"a":\n\u0000}', /^ERR 2: unexpected NUL byte/],
    ];
    for (const [name, text, error] of invalid) {
      it(`rejects ${name} with the line`, async () => {
        const result = await read(text);
        expect(result.code).to.equal(1);
        expect(result.stdout).to.match(error);
      });
    }
  });

  describe('read_package_json (the fields the build uses)', () => {
    async function readPackage(text: string) {
      const file = path.join(dir, 'package.json');
      await writeFile(file, text);
      const script =
        `for part in output json package-json; do source "${PARTS}/$part.sh"; done; cd "$(dirname "$1")"; read_package_json package.json; ` +
        'printf "%s|%s|%s|%s" "$ENGINES_NODE" "$APP_MAIN" "$APP_START" "$DEFINED_SCRIPTS"';
      return bash(script, [file]);
    }

    it('sets engines.node, main, the start script and the lifecycle scripts that are not blank', async () => {
      const result = await readPackage(
        JSON.stringify({
          engines: { node: '>=20.0.0-0 <23.0.0-0' },
          main: 'dist/app.js',
          scripts: { start: 'node dist/app.js', build: 'tsc', 'heroku-prebuild': ' ', 'heroku-cleanup': 'rm -rf src', test: 'mocha' },
        }),
      );
      expect(result).to.include({ code: 0, stdout: '>=20.0.0-0 <23.0.0-0|dist/app.js|node dist/app.js|build heroku-cleanup' });
    });

    it('sees no engines.node when a later "engines" has none (the last repeated name wins)', async () => {
      const result = await readPackage('{"engines": {"node": "18"}, "main": "a.js", "engines": {}}');
      expect(result).to.include({ code: 0, stdout: '|a.js||' });
    });

    const wrong: Array<[string, string, string]> = [
      ['a top-level array', '[1]', 'package.json:1: must hold a JSON object ({...}), not a JSON array'],
      ['"main" not a string', '{\n"main": ["a.js"]}', 'package.json:2: "main" must be a string (the server file), not array'],
      ['"engines" not an object', '{"engines": "20"}', 'package.json:1: "engines" must be an object such as {"node": "20.x"}, not string'],
      ['"engines.node" not a string', '{"engines": {\n\n"node": 20}}', 'package.json:3: "engines.node" must be a string such as "20.x", not number'],
      ['a script not a string', '{"scripts": {"start": "x",\n"build": null}}', 'package.json:2: "scripts.build" must be a string (a shell command), not null'],
      ['"dependencies" not an object', '{"dependencies": []}', 'package.json:1: "dependencies" must be an object, not array'],
    ];
    for (const [name, text, message] of wrong) {
      it(`fails on ${name}, naming the line`, async () => {
        const result = await readPackage(text);
        expect(result.code).to.equal(1);
        expect(result.stderr).to.include(` !     ${message}\n`);
      });
    }
  });

  describe('semver ranges (the answers of node-semver 7.8.6, recorded from the npm package)', () => {
    const versions = '25.0.0 22.11.0 22.1.0 21.7.3 21.0.0 20.18.0 20.1.0 20.0.0 19.9.0 18.20.4 18.0.0 0.12.18 0.0.3';
    /** Range, then semver.maxSatisfying(versions, range) ('' for null). */
    const cases: Array<[string, string]> = [
      ["20.1.0", "20.1.0"],
      ["v20.1.0", "20.1.0"],
      ["=20.1.0", "20.1.0"],
      ["20", "20.18.0"],
      ["20.x", "20.18.0"],
      ["20.1.x", "20.1.0"],
      ["^20.1.0", "20.18.0"],
      ["~20.1", "20.1.0"],
      [">=20", "25.0.0"],
      [">= 20", "25.0.0"],
      ["20 || 22", "22.11.0"],
      ["18 || 20.1", "20.1.0"],
      [">=18 <21", "20.18.0"],
      [">18", "25.0.0"],
      [">20.18.0 <22", "21.7.3"],
      ["<=20.1", "20.1.0"],
      ["<20", "19.9.0"],
      ["18 - 20", "20.18.0"],
      ["*", "25.0.0"],
      ["^0.12", "0.12.18"],
      // pre-release tags, build metadata, empty alternatives
      [">=20.0.0-0", "25.0.0"],
      ["<21.0.0-0", "20.18.0"],
      [">=20.0.0-0 <21.0.0-0", "20.18.0"],
      ["^20.0.0-0", "20.18.0"],
      ["~20.1.0-beta", "20.1.0"],
      [">20.0.0-0", "25.0.0"],
      ["<=21.0.0-0", "20.18.0"],
      ["20.0.0-0", ""],
      ["=20.1.0-rc.1", ""],
      ["20.1.0-rc.1 - 21.0.0-0", "20.18.0"],
      ["20 - 22.0.0-0", "21.7.3"],
      ["20.x.x-0", "20.18.0"],
      [">=21.0.0-0 || 18.x", "25.0.0"],
      ["^0.0.3-0", "0.0.3"],
      ["20.1.0+build.5", "20.1.0"],
      ["20 ||", "25.0.0"],
      ["|| 20", "25.0.0"],
      ["20 || || 22", "25.0.0"],
      ["||", "25.0.0"],
      [" ", "25.0.0"],
      ["=20 - 22", "22.11.0"],
      ["x.x.x", "25.0.0"],
      [">x", ""],
      ["<x", ""],
    ];

    it('picks the version node-semver picks, for every range of the table', async () => {
      // One bash for the whole table: each line is "status version".
      const script =
        `source "${PARTS}/semver.sh"; for range; do ` +
        `best=$(semver_max_satisfying "$range" ${versions}); echo "$? $best"; done`;
      const result = await bash(script, cases.map(([range]) => range));
      const lines = result.stdout.split('\n');
      expect(lines.map((line, i) => [cases[i]?.[0], line.replace(/^\d+ ?/, '')])).to.deep.equal(cases);
      expect(lines.map((line) => line.split(' ')[0])).to.deep.equal(cases.map(([, best]) => (best === '' ? '1' : '0')));
    });

    it('a pre-release version satisfies a range only through a tag on the same major.minor.patch', async () => {
      /** Version, range, semver.satisfies(version, range). */
      const table: Array<[string, string, boolean]> = [
        ['23.0.0-rc.1', '*', false],
        ['23.0.0-rc.1', '>=22', false],
        ['23.0.0-rc.1', '>=23.0.0-0', true],
        ['23.0.0-rc.1', '>=23.0.0-rc.2', false],
        ['23.0.0-rc.10', '>=23.0.0-rc.9', true],
        ['23.0.0-rc.1', '>=22 <=23.0.0-rc.1', true],
        ['23.0.0-1', '>=23.0.0-alpha', false],
        ['23.0.0-alpha', '>=23.0.0-alpha.0', false],
        ['23.0.0-rc.1', '23.0.0-rc.1 ||', false],
        ['v23.0.0-rc.1', '^23.0.0-rc.1', true],
        ['21.0.0-rc.1', '20', false],
      ];
      const script = `source "${PARTS}/semver.sh"; while (($#)); do semver_satisfies "$1" "$2" && echo true || echo false; shift 2; done`;
      const result = await bash(script, table.flatMap(([version, range]) => [version, range]));
      expect(result.stdout.split('\n')).to.deep.equal(table.map(([, , satisfied]) => String(satisfied)));
    });

    it('status 1 when nothing satisfies, 2 with the reason when the range is invalid', async () => {
      const none = await bash(`source "${PARTS}/semver.sh"; semver_max_satisfying '>=99' ${versions}`);
      expect(none).to.include({ code: 1, stdout: '' });
      const bad = await bash(`source "${PARTS}/semver.sh"; semver_max_satisfying 'banana' ${versions} || { echo "$? $SEMVER_ERROR"; }`);
      expect(bad.stdout).to.equal('2 cannot parse "banana" as a version or comparator');
    });

    it('refuses what node-semver refuses', async () => {
      const invalid = ['20 | 22', '*-0', '20.x-0', '20.1-0', '020', '20.01', '20.1.0-', '20.1.0-01', '20.1.0-alpha_1', '20.x.1', 'v 20', '>20 - 22'];
      const script = `source "${PARTS}/semver.sh"; for range; do semver_valid_range "$range"; echo $?; done`;
      const result = await bash(script, invalid);
      expect(result.stdout.split('\n')).to.deep.equal(invalid.map(() => '1'));
    });
  });

  describe('the release list (index.json)', () => {
    it('keeps linux-x64 releases with their LTS name; the default is the newest LTS', async () => {
      const cache = path.join(dir, 'cache-index');
      await mkdir(cache, { recursive: true });
      await writeFile(
        path.join(cache, 'index.json'),
        JSON.stringify(
          [
            { version: 'v24.0.0', files: ['linux-x64'], lts: false },
            { version: 'v22.2.0', files: ['linux-x64', 'src'], lts: 'Jod' },
            { version: 'v23.0.0', files: ['win-x64-zip'], lts: false },
            { version: 'v20.9.0', files: ['linux-x64'], lts: 'Iron' },
          ],
          null,
          1,
        ),
      );
      await writeFile(path.join(cache, 'index.source'), 'http://mirror.invalid');
      const script =
        `source "${PARTS}/output.sh"; source "${PARTS}/semver.sh"; source "${PARTS}/node.sh"; ` +
        `_node_index_versions "$1/index.json"; _node_resolve "$1" "" >/dev/null; echo "default $NODE_VERSION"`;
      const result = await bash(script, [cache], { NODE_MIRROR: 'http://mirror.invalid' });
      expect(result.stdout.split('\n')).to.deep.equal(['24.0.0 false', '22.2.0 Jod', '20.9.0 Iron', 'default 22.2.0']);
    });
  });

  describe('.profile.d/tsforeman-nodejs.sh', () => {
    let home: string;
    before(async () => {
      home = path.join(dir, 'app');
      await mkdir(home, { recursive: true });
      const result = await bash(
        `source "${PARTS}/output.sh"; source "${PARTS}/profile.sh"; TSFOREMAN_VENDORED=0; write_profile "$1"`,
        [home],
      );
      expect(result.code, result.stderr).to.equal(0);
    });

    async function boot(env: Record<string, string>) {
      const result = await bash(
        '. "$HOME/.profile.d/tsforeman-nodejs.sh"; printf "%s|%s|%s" "$PATH" "$NODE_ENV" "$WEB_CONCURRENCY"',
        [],
        { HOME: home, ...env },
      );
      const [pathValue, nodeEnv, concurrency] = result.stdout.split('|');
      return { pathValue, nodeEnv, concurrency };
    }

    it('puts the slug Node and node_modules/.bin on PATH through $HOME, with NODE_ENV=production', async () => {
      const text = await execa('cat', [path.join(home, '.profile.d', 'tsforeman-nodejs.sh')]);
      expect(String(text.stdout)).not.to.include(home);
      const { pathValue, nodeEnv } = await boot({});
      expect(pathValue?.split(':').slice(0, 2)).to.deep.equal([`${home}/.heroku/node/bin`, `${home}/node_modules/.bin`]);
      expect(nodeEnv).to.equal('production');
      expect((await boot({ NODE_ENV: 'staging' })).nodeEnv).to.equal('staging');
    });

    it('sets WEB_CONCURRENCY from HEROKU_AVAILABLE_PARALLELISM, keeps a value already set, else 1..CPUs', async () => {
      expect((await boot({ HEROKU_AVAILABLE_PARALLELISM: '3' })).concurrency).to.equal('3');
      expect((await boot({ WEB_CONCURRENCY: '7', HEROKU_AVAILABLE_PARALLELISM: '3' })).concurrency).to.equal('7');
      const computed = Number((await boot({})).concurrency);
      expect(computed).to.be.within(1, os.availableParallelism());
    });
  });
  describe('the node_modules cache (save_node_modules, restore_node_modules, check_node_modules_cache)', () => {
    // A build dir with a lockfile and an installed tree, and a cache dir, as bin/compile has them.
    const cacheScript = (body: string) =>
      `set -euo pipefail; source "${PARTS}/output.sh"; source "${PARTS}/dependencies.sh"; ` +
      `PACKAGE_MANAGER=npm LOCKFILE=package-lock.json NODE_VERSION=20.0.0; build=$1 cache=$2; ${body}`;
    const inode = 'stat -c %i';
    // File times move by the kernel's clock tick: what follows is written after the save, as a build is.
    const later = 'for ((i = 0; i < 1000000; i++)); do : >"$cache/probe"; [[ $cache/probe -nt $cache/node_modules/saved ]] && break; done; rm "$cache/probe"; ';
    let build: string;
    let cache: string;
    beforeEach(async () => {
      build = path.join(dir, 'nm-build');
      cache = path.join(dir, 'nm-cache');
      await execa('rm', ['-rf', build, cache]);
      await mkdir(path.join(build, 'node_modules', 'dep'), { recursive: true });
      await mkdir(cache);
      await writeFile(path.join(build, 'package-lock.json'), '{"lockfileVersion": 3}\n');
      await writeFile(path.join(build, 'node_modules', '.package-lock.json'), '{"packages": {}}\n');
      await writeFile(path.join(build, 'node_modules', 'dep', 'index.js'), 'module.exports = 1;\n');
    });

    it('shares the files as hard links, but for the package manager\'s record, and restores them the same way', async () => {
      const result = await bash(
        cacheScript(
          'save_node_modules "$build" "$cache"; ' +
            `echo "$(${inode} "$build/node_modules/dep/index.js") $(${inode} "$cache/node_modules/node_modules/dep/index.js")"; ` +
            `echo "$(${inode} "$build/node_modules/.package-lock.json") $(${inode} "$cache/node_modules/node_modules/.package-lock.json")"; ` +
            'rm -rf "$build/node_modules"; restore_node_modules "$build" "$cache"; ' +
            `echo "$(${inode} "$build/node_modules/dep/index.js") $(${inode} "$cache/node_modules/node_modules/dep/index.js")"; ` +
            // What a prune does: unlink a package, rewrite the record in place. The cache keeps both.
            later + 'rm -rf "$build/node_modules/dep"; echo "{}" >"$build/node_modules/.package-lock.json"; check_node_modules_cache "$cache"; ' +
            'cat "$cache/node_modules/node_modules/dep/index.js" "$cache/node_modules/node_modules/.package-lock.json"',
        ),
        [build, cache],
      );
      expect(result.code, result.stderr).to.equal(0);
      const [saved, record, reused, restored, ...kept] = result.stdout.split('\n');
      const [a, b] = saved!.split(' ');
      expect(a).to.equal(b);
      const [c, d] = record!.split(' ');
      expect(c).to.not.equal(d);
      const [e, f] = restored!.split(' ');
      expect(e).to.equal(f);
      expect(reused).to.equal('       Reusing node_modules from the cache (package-lock.json and Node.js 20.0.0 unchanged): nothing to install');
      expect(kept.join('\n')).to.equal('module.exports = 1;\n{"packages": {}}');
    });

    it('drops the cache when a build wrote a cached file in place, and keeps a plain copy from then on', async () => {
      const result = await bash(
        cacheScript(
          'save_node_modules "$build" "$cache"; ' + later + 'echo "exports.generated = true;" >>"$build/node_modules/dep/index.js"; ' +
            'check_node_modules_cache "$cache"; ls -A "$cache/node_modules"; ' +
            'save_node_modules "$build" "$cache"; ls -A "$cache/node_modules"; ' +
            `[[ $(${inode} "$build/node_modules/dep/index.js") != $(${inode} "$cache/node_modules/node_modules/dep/index.js") ]] && echo copied`,
        ),
        [build, cache],
      );
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stdout.split('\n')).to.deep.equal([
        '       The build wrote into node_modules in place (dep/index.js): the cache drops its copy; the next build installs again and keeps a plain copy',
        'copy',
        'copy',
        'key',
        'node_modules',
        'saved',
        'copied',
      ]);
    });

    it('does not use a cache written to after it was saved (a slug run in place), and installs afresh', async () => {
      const result = await bash(
        cacheScript(
          'save_node_modules "$build" "$cache"; ' + later + 'echo "// run" >>"$build/node_modules/dep/index.js"; rm -rf "$build/node_modules"; ' +
            'if restore_node_modules "$build" "$cache"; then echo restored; else echo "not restored"; fi; ls -A "$cache/node_modules"; [[ -e $build/node_modules ]] || echo "no node_modules"',
        ),
        [build, cache],
      );
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stdout.split('\n')).to.deep.equal([
        '       node_modules in the cache was written to since it was saved (dep/index.js): installing afresh',
        'not restored',
        'copy',
        'no node_modules',
      ]);
    });
  });
});
