import type { Command } from 'commander';
import { withForemanDefaults } from './foreman-file.js';
import { addFlags, PROJECT_FLAGS } from './options.js';
import { loadProject, type ProjectOptions } from './project.js';

export function registerCheckCommand(program: Command): void {
  const command = program
    .command('check')
    .description('validate the Procfile and env files; print the process types found');
  addFlags(command, PROJECT_FLAGS).action((options: ProjectOptions, self: Command) => {
    process.stdout.write(`${checkProject(withForemanDefaults(self, options), process.env)}\n`);
  });
}

/** `valid procfile detected (web, worker)`, or a UserError naming the file and line at fault. */
export function checkProject(options: ProjectOptions, environment: NodeJS.ProcessEnv): string {
  // check is strict: a variable no process can receive is an error here, a warning elsewhere.
  const project = loadProject({ ...options, strictEnv: true }, environment);
  return `valid procfile detected (${project.procfile.entries.map((entry) => entry.name).join(', ')})`;
}
