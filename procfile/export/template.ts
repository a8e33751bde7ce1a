import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';

/** Values a template may use, by name; each is already escaped for the format's syntax. */
export type TemplateVars = Readonly<Record<string, string>>;

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;
const ALONE_ON_LINE = /^([ \t]*)\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}[ \t]*$/;

/**
 * Fills `{{ name }}` placeholders. Nothing else is interpreted, so a template can never run code.
 * A placeholder alone on its line is block-aware: every line of a multi-line value gets the
 * placeholder's indentation (YAML stays valid), and an empty value removes the line.
 * An unknown name is an error naming `source:line` and the names available.
 *
 *   renderTemplate('a:\n  {{ list }}\n', { list: '- 1\n- 2' }, 'x')  // 'a:\n  - 1\n  - 2\n'
 */
export function renderTemplate(text: string, vars: TemplateVars, source: string): string {
  const lookup = (name: string, line: number): string => {
    const value = Object.hasOwn(vars, name) ? vars[name] : undefined;
    if (value === undefined) {
      const available = Object.keys(vars).sort().join(', ');
      throw new UserError(`${source}:${line}: unknown template variable "${name}" (available: ${available})`);
    }
    return value;
  };
  const out: string[] = [];
  text.split('\n').forEach((line, index) => {
    const alone = ALONE_ON_LINE.exec(line);
    if (alone) {
      const [, indent, name] = alone as unknown as [string, string, string];
      const value = lookup(name, index + 1);
      if (value !== '') out.push(...value.split('\n').map((part) => (part === '' ? '' : indent + part)));
      return;
    }
    out.push(line.replace(PLACEHOLDER, (_match, name: string) => lookup(name, index + 1)));
  });
  return out.join('\n');
}

/**
 * A format's templates: the built-in ones, each replaceable by a file of the same name in the
 * user's template folder, looked up as `DIR/FORMAT/NAME` first, then `DIR/NAME`.
 *
 *   const templates = new TemplateSet('systemd', { 'process.service': '...' }, '/srv/templates');
 *   templates.render('process.service', vars);
 */
export class TemplateSet {
  private readonly texts = new Map<string, { text: string; source: string }>();

  constructor(format: string, builtins: Readonly<Record<string, string>>, userDir?: string) {
    for (const [name, text] of Object.entries(builtins)) {
      this.texts.set(name, { text, source: `built-in ${format} template ${name}` });
    }
    if (userDir === undefined) return;
    if (!existsSync(userDir) || !statSync(userDir).isDirectory()) {
      throw new UserError(`template folder not found: ${userDir} (check -T/--template)`);
    }
    const formatDir = join(userDir, format);
    if (existsSync(formatDir) && statSync(formatDir).isDirectory()) {
      for (const name of readdirSync(formatDir)) {
        if (!this.texts.has(name)) {
          throw new UserError(
            `${join(formatDir, name)}: not a ${format} template (${format} templates: ${Object.keys(builtins).join(', ')})`,
          );
        }
      }
    }
    for (const name of Object.keys(builtins)) {
      for (const file of [join(formatDir, name), join(userDir, name)]) {
        if (existsSync(file) && statSync(file).isFile()) {
          this.texts.set(name, { text: readFileSync(file, 'utf8'), source: file });
          break;
        }
      }
    }
  }

  render(name: string, vars: TemplateVars): string {
    const template = this.texts.get(name);
    if (template === undefined) throw new Error(`no template named ${name}`);
    return renderTemplate(template.text, vars, template.source);
  }
}
