import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import tseslint from 'typescript-eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The project's own eslint.config.js, run through ESLint's API on code that is not on disk. Type-aware rules
 * need a file the TypeScript project knows, so they are switched off here; the import rule reads no types.
 */
let eslint: ESLint;
beforeAll(() => {
  eslint = new ESLint({ cwd: root, overrideConfig: [tseslint.configs.disableTypeChecked] });
});

/** The import rule's messages for `code` placed at `filePath` (repository-relative). */
async function importErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${filePath}` });
  return result!.messages.filter((m) => m.ruleId === 'layers/imports').map((m) => m.message);
}

describe('core code (src/) imports no platform SDK, channel adapter or storage/runner/payment adapter', () => {
  it('refuses a chat SDK in the orders module', async () => {
    const errors = await importErrors('src/orders/transitions.ts', "import { Telegraf } from 'telegraf';\nexport const bot = Telegraf;\n");
    expect(errors).toEqual([expect.stringContaining("'telegraf' may not be imported here: core code uses ports (src/ports/)")]);
  });

  it('refuses any @aws-sdk package, deep imports and type-only imports included', async () => {
    const code = [
      "import type { S3Client } from '@aws-sdk/client-s3';",
      "import { BatchClient } from '@aws-sdk/client-batch/dist-types/BatchClient';",
      'export type Clients = [S3Client, BatchClient];',
    ].join('\n');
    const errors = await importErrors('src/intake/intake.ts', code);
    expect(errors).toHaveLength(2);
  });

  it('refuses the Telegram adapter imported from core', async () => {
    const errors = await importErrors(
      'src/orders/transitions.ts',
      "import { createTelegramChannel } from '../../bots/telegram';\nexport { createTelegramChannel };\n",
    );
    expect(errors).toEqual([expect.stringContaining("'../../bots/telegram' (bots/telegram) may not be imported here")]);
  });

  it('sees a dynamic import, a re-export and an import type of the mail adapter', async () => {
    const code = [
      "export * from '../../mail/balance';",
      "export const load = () => import('../../mail');",
      "export type Options = import('../../mail/options').MailOptions;",
    ].join('\n');
    expect(await importErrors('src/processors/sender.ts', code)).toHaveLength(3);
  });

  it('refuses an adapter of a port: core gets it through the port, wired in the composition root', async () => {
    const errors = await importErrors(
      'src/processors/dispatcher.ts',
      "import { WarmRunner } from '../runner/warm-runner';\nexport { WarmRunner };\n",
    );
    expect(errors).toEqual([expect.stringContaining('(src/runner/warm-runner)')]);
  });

  it('resolves the path, so a core folder that happens to be named mail is not the mail adapter', async () => {
    expect(await importErrors('src/intake/x.ts', "import '../intake/mail';\n")).toEqual([]);
  });

  it('lets core import its own modules, the ports and ordinary packages', async () => {
    const code = [
      "import type { Channel } from '../ports/channel';",
      "import { Ledger } from '../ledger';",
      "import { z } from 'zod';",
      "import { join } from 'node:path';",
      'export type Parts = [Channel, Ledger, typeof z, typeof join];',
    ].join('\n');
    const [result] = await eslint.lintText(code, { filePath: `${root}src/orders/transitions.ts` });
    expect(result!.messages).toEqual([]);
  });
});

describe('adapters and the composition root', () => {
  it('lets an adapter import its SDK but not a channel adapter', async () => {
    expect(await importErrors('src/payments/stripe-payments.ts', "import Stripe from 'stripe';\nexport { Stripe };\n")).toEqual([]);
    expect(await importErrors('src/payments/stripe-payments.ts', "import '../../bots/discord';\n")).toHaveLength(1);
  });

  it('lets the composition root (src/app/) import the channel adapters, and no core file beside it', async () => {
    expect(await importErrors('src/app/channels.ts', "export const t = () => import('../../bots/telegram');\n")).toEqual([]);
    expect(await importErrors('src/channels.ts', "export const m = () => import('../mail');\n")).toHaveLength(1);
  });
});

describe('the worker (whisper-container/) uses the service only through its contract', () => {
  it('refuses the ledger', async () => {
    const errors = await importErrors('whisper-container/src/job.ts', "import { Ledger } from '../../src/ledger';\nexport { Ledger };\n");
    expect(errors).toEqual([
      expect.stringContaining("'../../src/ledger' (src/ledger) may not be imported here: the worker uses only its contract"),
    ]);
  });

  it('refuses a chat SDK, also in its tests', async () => {
    expect(await importErrors('whisper-container/test/job.test.ts', "import 'discord.js';\n")).toHaveLength(1);
  });

  it('allows the ports, the transcript types, the formats and its own modules', async () => {
    const code = [
      "import type { JobManifest } from '../../src/ports/runner';",
      "import type { TranscriptResult } from '../../src/domain/transcript';",
      "import { renderSrt } from '../../src/formats';",
      "import { decodePcm } from './decode';",
      'export type Parts = [JobManifest, TranscriptResult, typeof renderSrt, typeof decodePcm];',
    ].join('\n');
    expect(await importErrors('whisper-container/src/job.ts', code)).toEqual([]);
  });
});
