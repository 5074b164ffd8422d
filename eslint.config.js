// Type-aware lint for the whole workspace (STYLE.md §10).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'proto/src/gen/**', 'coverage/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['vitest.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'import-x/no-cycle': 'error',
      eqeqeq: 'error',
      curly: ['error', 'all'],
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@everythingos/*/src/*', '@everythingos/*/dist/*'], message: 'import a package through its exports map' }] },
      ],
    },
  },
  {
    files: ['{proto,sdk,agent-host,supervisor,ebpf-helper}/src/**/*.ts'],
    ignores: ['**/src/bin/**'],
    rules: {
      'no-console': 'error',
      'no-restricted-properties': ['error', { object: 'process', property: 'exit', message: 'only bin/ may exit the process' }],
    },
  },
  {
    files: ['supervisor/src/**/*.ts', 'ebpf-helper/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: '@everythingos/sdk', message: 'the supervisor never loads agent code or the SDK; agents are reached through their socket' },
            { name: '@everythingos/agent-host', message: 'the supervisor spawns agent-host, it never imports it' },
            { name: '@everythingos/ebpf-helper', message: 'the supervisor spawns the ebpf helper, it never imports it' },
          ],
          patterns: [{ group: ['@everythingos/*/src/*', '@everythingos/*/dist/*'], message: 'import a package through its exports map' }],
        },
      ],
    },
  },
  {
    files: ['**/test/**/*.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setImmediate: 'readonly', Buffer: 'readonly', performance: 'readonly' } },
  },
  {
    // CommonJS scripts (agent-host's code-cached start): Node's module globals.
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { process: 'readonly', require: 'readonly', __dirname: 'readonly', globalThis: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
