import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SETTINGS_PAGE, renderSettingsPage } from '../../docs/settings-page.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function read(file: string): string {
  return readFileSync(path.join(REPO, file), 'utf8');
}

/** The output of one of the package's commands (the built dist/, as a user runs it). */
function help(bin: 'tsforeman' | 'tsunicorn' | 'tsunicornc', ...args: string[]): string {
  return execFileSync(process.execPath, [path.join(REPO, 'bin', bin), ...args], { encoding: 'utf8' });
}

/** Every `-x` and `--long-flag` named in the "Options:" part of a --help text. */
function optionsOf(helpText: string): string[] {
  const options = helpText.slice(helpText.indexOf('Options:'));
  const end = options.search(/\n\n\S/);
  const block = end === -1 ? options : options.slice(0, end);
  const flags = new Set<string>();
  for (const line of block.split('\n')) {
    const names = /^ {2}(-[^ ].*?)(?: {2,}|$)/.exec(line)?.[1];
    for (const flag of names?.match(/--?[A-Za-z][\w-]*/g) ?? []) flags.add(flag);
  }
  return [...flags];
}

/** Whether `flag` appears in the text as a flag (not as part of a longer one). */
function mentions(text: string, flag: string): boolean {
  return new RegExp(`(^|[^\\w-])${flag.replace(/[-]/g, '\\-')}(?![\\w-])`, 'm').test(text);
}

describe('the documentation', () => {
  it(`${SETTINGS_PAGE} is what \`npm run docs\` generates from runtime/settings.ts`, () => {
    expect(read(SETTINGS_PAGE), `${SETTINGS_PAGE} is stale: run npm run docs`).to.equal(renderSettingsPage());
  });

  it('documents every flag of tsunicorn --help', () => {
    const page = read('docs/settings.md');
    const flags = optionsOf(help('tsunicorn', '--help'));
    expect(flags).to.include.members(['--bind', '-b', '--workers', '--version', '-h']);
    expect(flags.filter((flag) => !mentions(page, flag))).to.deep.equal([]);
  });

  it('documents every command and flag of tsforeman --help', () => {
    const docs = readdirSync(path.join(REPO, 'docs')).map((file) => read(`docs/${file}`)).join('\n');
    const top = help('tsforeman', '--help');
    const commands = [...top.slice(top.indexOf('Commands:')).matchAll(/^ {2}([a-z]+) /gm)]
      .map((match) => match[1]!)
      .filter((command) => command !== 'help');
    expect(commands).to.include.members(['start', 'run', 'check', 'export', 'build']);
    const missing: string[] = [];
    for (const flag of optionsOf(top)) if (!mentions(docs, flag)) missing.push(flag);
    for (const command of commands) {
      if (!mentions(docs, `tsforeman ${command}`)) missing.push(`tsforeman ${command}`);
      for (const flag of optionsOf(help('tsforeman', command, '--help'))) {
        if (!mentions(docs, flag)) missing.push(`tsforeman ${command} ${flag}`);
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it('documents every command and flag of tsunicornc --help in docs/tsunicorn.md', () => {
    const page = read('docs/tsunicorn.md');
    const text = help('tsunicornc', '--help');
    const commands = [...text.slice(text.indexOf('Commands:'), text.indexOf('Options:')).matchAll(/^ {2}(\S.*?)(?= {2,})/gm)].map((match) => match[1]!);
    expect(commands).to.include.members(['show workers', 'worker add [N]', 'shutdown [graceful|quick]']);
    const missing = commands.filter((command) => !page.includes(`\`${command.replace('|', '\\|')}\``));
    for (const flag of optionsOf(text)) if (!mentions(page, flag)) missing.push(flag);
    expect(missing).to.deep.equal([]);
  });

  it('keeps the README a first page: at most 300 lines, with the set-up commands', () => {
    const readme = read('README.md');
    expect(readme.split('\n').length).to.be.at.most(300);
    expect(readme).to.include('npm install && npm start');
    expect(readme).to.include('npm test ');
  });

  it('links only to documentation pages that exist', () => {
    const pages = ['README.md', ...readdirSync(path.join(REPO, 'docs')).map((file) => `docs/${file}`)];
    const broken: string[] = [];
    for (const page of pages) {
      for (const [, target] of read(page).matchAll(/\]\(([^)#\s]+\.md)(?:#[^)]*)?\)/g)) {
        const file = path.join(path.dirname(page), target!);
        try {
          readFileSync(path.join(REPO, file));
        } catch {
          broken.push(`${page} -> ${target}`);
        }
      }
    }
    expect(broken).to.deep.equal([]);
  });
});
