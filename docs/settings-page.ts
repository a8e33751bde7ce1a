/**
 * docs/settings.md, rendered from the settings table of runtime/settings.ts (the table that also makes
 * tsunicorn's parser and --help), so the page cannot drift from the code. `npm run docs` writes it; a
 * test fails when the committed page differs from what this renders.
 */
import { GUNICORN_HOOKS, GUNICORN_IMPLEMENTED, GUNICORN_ONLY } from '../runtime/gunicorn-settings.js';
import { HOOK_NAMES, UNSUPPORTED_HOOKS } from '../runtime/hooks.js';
import { SETTINGS, type BindAddress } from '../runtime/settings.js';

type Setting = (typeof SETTINGS)[number];

export const SETTINGS_PAGE = 'docs/settings.md';

export function renderSettingsPage(): string {
  const lines = [
    '# tsunicorn settings',
    '',
    '<!-- Generated from runtime/settings.ts by `npm run docs`; edit the table there, not this page. -->',
    '',
    'Every setting can be given on the command line, in `TSUNICORN_CMD_ARGS`, or in the config file',
    '(see [tsunicorn.md](tsunicorn.md#the-config-file)); a few also take a default from the environment.',
    'Precedence, highest first: **command line > `TSUNICORN_CMD_ARGS` > config file > environment >',
    'built-in defaults**. A repeatable setting given at a higher level replaces the lower level\'s list.',
    '',
    '`TSUNICORN_CMD_ARGS` is split like a shell line (quotes and backslashes, no expansion) and may also',
    'carry the APP. In the config file, a setting is written under its config key (or one of the other',
    'spellings listed), as a string, number or boolean; a repeatable one may be an array. A bad value',
    'stops tsunicorn at start with one line naming where the value came from, and exit status 2.',
    '',
    'Besides the settings: `APP` (the positional argument, or `app` in the config file) names the app;',
    '`-v`, `--version` prints the version and `-h`, `--help` the options, and both exit 0.',
    '',
    '| setting | command line | environment | default |',
    '| --- | --- | --- | --- |',
    ...SETTINGS.map((setting) =>
      `| [\`${setting.name}\`](#${setting.name}) | ${flagList(setting)} | ${setting.env ? `\`$${setting.env}\`` : ''} | ${defaultText(setting)} |`),
  ];
  for (const setting of SETTINGS) {
    lines.push(
      '',
      `## ${setting.name}`,
      '',
      `- Command line: ${flagList(setting)}${setting.repeatable ? ' (repeatable)' : ''}`,
      `- Config file: ${[setting.name, ...(setting.aliases ?? [])].map((key) => `\`${key}\``).join(', ')}`,
    );
    if (setting.env) lines.push(`- Environment: \`$${setting.env}\``);
    lines.push(`- Default: ${defaultText(setting)}`, '', setting.help);
  }
  lines.push(...gunicornSection());
  return lines.join('\n') + '\n';
}

/** Every gunicorn setting with what tsunicorn does with it. */
function gunicornSection(): string[] {
  const lines = [
    '',
    "## gunicorn's settings",
    '',
    'A Procfile line or config file copied from a Python app keeps working: each of gunicorn\'s settings is',
    'implemented under its gunicorn spelling, or accepted with one `[WARNING]` line at start saying why it',
    'does not apply to Node and what tsunicorn does instead (the server then starts as if it were not',
    'given), or refused with one line and exit 2 where ignoring it would change what the server does. A',
    "misspelt flag or key gets a suggestion: `tsunicorn: unknown option '--wokers' (did you mean --workers?)`.",
    '',
    '| gunicorn setting | flags | tsunicorn |',
    '| --- | --- | --- |',
  ];
  const flags = (list: readonly string[]) => list.map((flag) => `\`${flag}\``).join(', ');
  for (const gunicorn of GUNICORN_IMPLEMENTED) {
    const row = SETTINGS.find((setting) =>
      setting.name === gunicorn.name || (setting.aliases ?? []).includes(gunicorn.name) || gunicorn.flags.some((flag) => flag.startsWith('--') && setting.flags.includes(flag)));
    if (!row && gunicorn.name === 'wsgi_app') {
      lines.push(`| \`wsgi_app\` | | implemented: the config key \`app\` (or \`wsgi_app\`) names the APP |`);
      continue;
    }
    if (!row) {
      if (gunicorn.pending) continue;
      throw new Error(`gunicorn's ${gunicorn.name} is listed as implemented but no row of SETTINGS carries it`);
    }
    lines.push(`| \`${gunicorn.name}\` | ${flags(gunicorn.flags)} | implemented: [\`${row.name}\`](#${row.name}) |`);
  }
  for (const other of GUNICORN_ONLY) {
    const status = other.status === 'refused' ? 'refused (exit 2)' : 'accepted with a warning';
    lines.push(`| \`${other.name}\` | ${other.flags.length ? flags(other.flags) : 'config file only'} | ${status}: ${other.reason.replace(/\|/g, '\\|')} |`);
  }
  for (const hook of GUNICORN_HOOKS) {
    const status = (HOOK_NAMES as readonly string[]).includes(hook)
      ? 'hook, implemented (see [tsunicorn.md](tsunicorn.md#hooks))'
      : `hook, refused at start (exit 2): ${UNSUPPORTED_HOOKS[hook] ?? 'not a tsunicorn hook'}`;
    lines.push(`| \`${hook}\` | config file only | ${status} |`);
  }
  return lines;
}

function flagList(setting: Setting): string {
  const short = setting.flags.filter((flag) => /^-[a-zA-Z]$/.test(flag));
  const long = setting.flags.filter((flag) => flag.startsWith('--'));
  return [...short, ...long].map((flag) => `\`${setting.meta ? `${flag} ${setting.meta}` : flag}\``).join(', ');
}

function defaultText(setting: Setting): string {
  const value: unknown = setting.default;
  if (value === undefined) return 'none';
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  const items = Array.isArray(value) ? value : [value];
  return `\`${items.map((item) => (isBindAddress(item) ? item.text : String(item))).join(',')}\``;
}

function isBindAddress(value: unknown): value is BindAddress {
  return typeof value === 'object' && value !== null && 'text' in value && 'kind' in value;
}
