import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { renderTemplate } from '../../../procfile/export/template.js';
import { DEMO, removeTempDirs, tempDir, tsforeman } from './helpers.js';

describe('export templates', () => {
  afterEach(removeTempDirs);

  it('fills {{ name }} inline and indents a block placeholder alone on its line', () => {
    const text = 'name: {{ app }}\nlist:\n  {{ items }}\n  {{ none }}\nend\n';
    expect(renderTemplate(text, { app: 'demo', items: '- a\n- b', none: '' }, 'x')).to.equal(
      'name: demo\nlist:\n  - a\n  - b\nend\n',
    );
  });

  it('leaves text that is not a placeholder alone, and runs nothing', () => {
    expect(renderTemplate('${app} {app} {{app}} `{{ app }}`', { app: '$(id)' }, 'x')).to.equal('${app} {app} $(id) `$(id)`');
  });

  it('an unknown variable is reported with file:line and the names available', () => {
    expect(() => renderTemplate('a\n{{ nope }}\n', { app: 'x', port: '1' }, 'my.tmpl')).to.throw(
      'my.tmpl:2: unknown template variable "nope" (available: app, port)',
    );
  });

  it('a template in -T DIR/FORMAT replaces the built-in one of that name', () => {
    const templates = tempDir();
    mkdirSync(join(templates, 'systemd'));
    writeFileSync(join(templates, 'systemd', 'process.service'), [
      '{{ header }}',
      '[Service]',
      '# {{ process }} of {{ app }} on port {{ port }}',
      'ExecStart={{ exec_start }}',
      '{{ environment_lines }}',
      '',
    ].join('\n'));
    const out = tempDir();
    const result = tsforeman(['export', 'systemd', out, '-T', templates, '-m', 'web=1,worker=0,clock=0'], DEMO);
    expect(result.code, result.stderr).to.equal(0);
    const unit = readFileSync(join(out, 'demo-web.1.service'), 'utf8');
    expect(unit).to.contain('# web.1 of demo on port 5000\n');
    expect(unit).to.contain('ExecStart=/bin/sh -c "exec node server.js --port \\"$$PORT\\" --name \'demo web\'"\n');
    expect(unit).to.contain('Environment="PORT=5000"\n');
    expect(unit).to.not.contain('KillMode');
    // The target was not overridden.
    expect(readFileSync(join(out, 'demo.target'), 'utf8')).to.contain('WantedBy=multi-user.target');
  });

  it('a user template with an unknown variable or an unknown file name is an error naming the file', () => {
    const templates = tempDir();
    writeFileSync(join(templates, 'app.target'), '[Unit]\nWants={{ service }}\n');
    let result = tsforeman(['export', 'systemd', tempDir(), '-T', templates], DEMO);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain(`${join(templates, 'app.target')}:2: unknown template variable "service"`);

    mkdirSync(join(templates, 'supervisord'));
    writeFileSync(join(templates, 'supervisord', 'programs.conf'), '');
    result = tsforeman(['export', 'supervisord', tempDir(), '-T', templates], DEMO);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain('programs.conf: not a supervisord template (supervisord templates: app.conf, program.conf)');
  });
});
