// ESLint (flat config): typescript-eslint's type-aware recommended rules over all of the project's
// TypeScript. `npm run lint:ts` runs it; `npm run lint` runs it and shellcheck.
import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'test/fixtures/'] },
  {
    files: ['procfile/**/*.ts', 'runtime/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'docs/**/*.ts'],
    extends: [eslint.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      // tsconfig.test.json covers the sources, tests, benchmarks and the docs generator (not the fixtures).
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Tests match column-aligned output (`web.1  | `, seven-space indents): literal spaces read as the output does.
      'no-regex-spaces': 'off',
    },
  },
);
