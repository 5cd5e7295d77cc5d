// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import layers from './eslint/layers.js';

/** Platform SDKs: only adapters import them (DESIGN: dependencies point inward). */
const CHAT_MAIL_PAYMENT_SDKS = ['telegraf', 'discord.js', 'imapflow', 'mailparser', 'nodemailer', 'smtp-server', 'stripe'];
const PLATFORM_SDKS = [...CHAT_MAIL_PAYMENT_SDKS, '@aws-sdk/*'];

/** Adapters implement the ports in `src/ports/` with their SDK. */
const ADAPTERS = ['src/storage', 'src/runner', 'src/payments'];

/** The composition root: the only code that chooses adapters, and the only code that may import `bots/` and `mail/`. */
const COMPOSITION_ROOT = ['src/app/**'];

/**
 * What the worker (`whisper-container/`) may use of the service: the ports and result types it shares, the
 * formats and ffmpeg it renders and decodes with, and the two blob stores it reads and writes through.
 */
const WORKER_CONTRACT = [
  'whisper-container',
  'src/ports',
  'src/domain/transcript',
  'src/domain/languages',
  'src/domain/models',
  'src/formats',
  'src/media/ffmpeg',
  'src/tied-spawn',
  'src/storage/local-blob-store',
  'src/storage/s3-blob-store',
];

export default tseslint.config(
  { ignores: ['node_modules/', 'build/', 'data/', 'src/db/migrations/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { layers },
    rules: {
      // Real bugs: a promise nobody awaits loses its rejection; a promise where a callback returns void is never awaited.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Port methods are `async` on purpose even without an `await`: a throw becomes a rejection the caller handles.
      '@typescript-eslint/require-await': 'off',
      // `items[i]!` is deliberate: it marks where the code relies on an index being in range.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: [...ADAPTERS.map((dir) => `${dir}/**`), ...COMPOSITION_ROOT],
    rules: {
      'layers/imports': [
        'error',
        {
          deny: ['bots', 'mail', 'whisper-container', ...ADAPTERS],
          packages: PLATFORM_SDKS,
          because: 'core code uses ports (src/ports/); platforms and adapters are wired in the composition root (src/app/).',
        },
      ],
    },
  },
  {
    files: ADAPTERS.map((dir) => `${dir}/**/*.ts`),
    rules: {
      'layers/imports': [
        'error',
        { deny: ['bots', 'mail'], because: 'only the composition root (src/app/) imports the channel adapters.' },
      ],
    },
  },
  {
    files: ['whisper-container/**/*.ts'],
    rules: {
      'layers/imports': [
        'error',
        {
          allow: WORKER_CONTRACT,
          packages: CHAT_MAIL_PAYMENT_SDKS,
          because: `the worker uses only its contract with the service: ${WORKER_CONTRACT.slice(1).join(', ')}.`,
        },
      ],
    },
  },
  {
    // The worker's tests and its GPU measurement also use the helpers every package's tests share (speech, the engine's paths).
    files: ['whisper-container/test/**/*.ts', 'whisper-container/gpu/**/*.ts'],
    rules: {
      'layers/imports': [
        'error',
        {
          allow: [...WORKER_CONTRACT, 'test/support'],
          packages: CHAT_MAIL_PAYMENT_SDKS,
          because: `the worker's tests use its contract with the service and test/support/.`,
        },
      ],
    },
  },
  {
    // Tests read parsed JSON, YAML and wire payloads from fake servers; typing every one of them would hide what
    // the test asserts. Product code keeps the rules.
    files: ['test/**/*.ts', '**/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
  { files: ['**/*.js'], extends: [tseslint.configs.disableTypeChecked] },
);
