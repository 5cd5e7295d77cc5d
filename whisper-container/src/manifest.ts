import { z } from 'zod';
import type { JobManifest } from '../../src/ports/runner';
import { isWhisperLanguage } from './languages';

const manifestSchema = z.object({
  version: z.literal(1),
  jobId: z.string().min(1),
  inputs: z.array(z.object({ key: z.string().min(1), name: z.string(), chargedSeconds: z.number().positive().optional() })).min(1),
  options: z
    .object({
      language: z.string().refine(isWhisperLanguage, 'unknown language code').optional(),
      translate: z.boolean().optional(),
    })
    .default({}),
});

/** Parses and checks a job manifest (JSON text); throws one readable line naming what is wrong. */
export function parseManifest(text: string): JobManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('job manifest is not valid JSON');
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`job manifest: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}
