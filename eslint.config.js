// ESLint flat config (issue 12). typescript-eslint's strict type-checked rules, with type information from one
// program, tsconfig.test.json (the typecheck's files, src, machines, bench, test and
// vitest.config.ts, with noUncheckedIndexedAccess as the build has it), then eslint-config-prettier
// last so that no rule fights the formatter: layout is Prettier's job (`npm run format`), ESLint looks for bugs.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** The rules that catch an `any` flowing through typed code. */
const ANY_RULES = [
  '@typescript-eslint/no-explicit-any',
  '@typescript-eslint/no-unsafe-argument',
  '@typescript-eslint/no-unsafe-assignment',
  '@typescript-eslint/no-unsafe-call',
  '@typescript-eslint/no-unsafe-member-access',
  '@typescript-eslint/no-unsafe-return',
];

export default defineConfig(
  // Generated files (as in .prettierignore): their generators write `/* eslint-disable */`, which would otherwise be
  // reported as an unused directive whenever the generated code happens to pass.
  globalIgnores(['dist/', 'data/', '.vitest-data/', 'bench/results/', 'src/ocpp/generated/', 'src/ocpp/v201/types.ts', 'src/api/generated/']),

  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // The reason for type-aware linting: a promise nobody awaits or catches, or one handed to a callback that
      // expects void (an event handler), loses its rejection.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // `_name` marks a parameter or binding kept on purpose (a signature to match, a value to skip).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // Numbers and booleans read fine in a message; undefined, null, objects and never do not.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // Off: style (`() => void f()` vs `() => { f(); }`), nothing to do with correctness.
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // Off: an async method that implements an async interface (an in-memory store, a local router) need not await.
      '@typescript-eslint/require-await': 'off',
    },
  },

  // The browser console (console/src): its own program (DOM, no Node), type-checked against its own tsconfig.
  {
    files: ['console/**/*.ts'],
    languageOptions: {
      parserOptions: { project: './console/tsconfig.json', tsconfigRootDir: import.meta.dirname },
      globals: globals.browser,
    },
  },

  // Test and bench code: `!` after a lookup the test has just asserted is fine; an `any` is shown, not fatal.
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'vitest.config.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      ...Object.fromEntries(ANY_RULES.map((rule) => [rule, 'warn'])),
    },
  },

  // Plain JavaScript (this file, scripts/*.mjs): Node globals, no type information.
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },

  prettier,
);
