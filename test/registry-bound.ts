/**
 * Tests that install packages from the npm registry (npm install of the packed package, the buildpack's
 * builds with npm, yarn and pnpm). They check the package and the buildpack, not the Node line the suite
 * runs on, so CI (.ci/run) runs them once, on the machine's own Node, and sets
 * TSFOREMAN_REGISTRY_TESTS=once-per-run for the other Node lines, where they are reported as pending.
 *
 *   registryBound.describe('a TypeScript app: cold build ...', () => { ... });
 */
const skipped = process.env.TSFOREMAN_REGISTRY_TESTS === 'once-per-run';

export const registryBound = {
  describe: skipped ? describe.skip : describe,
};
