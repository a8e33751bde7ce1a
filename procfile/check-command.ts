import type { Command } from 'commander';
import { addProjectOptions, loadProject, type ProjectOptions } from './settings.js';

export function registerCheckCommand(program: Command): void {
  const command = program
    .command('check')
    .description('validate the Procfile and env files; print the process types found');
  addProjectOptions(command).action((options: ProjectOptions) => {
    process.stdout.write(`${checkProject(options, process.env)}\n`);
  });
}

/** `valid procfile detected (web, worker)`, or a UserError naming the file and line at fault. */
export function checkProject(options: ProjectOptions, environment: NodeJS.ProcessEnv): string {
  const project = loadProject(options, environment);
  return `valid procfile detected (${project.procfile.entries.map((entry) => entry.name).join(', ')})`;
}
