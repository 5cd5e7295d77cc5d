import { z } from 'zod';
import type { JobManifest } from '../../src/ports/runner';
import { assertSafeKey } from '../../src/storage/keys';
import { isWhisperLanguage } from './languages';

const isSafeKey = (key: string): boolean => {
  try {
    assertSafeKey(key);
    return true;
  } catch {
    return false;
  }
};

const manifestSchema = z.object({
  version: z.literal(1),
  jobId: z.string().min(1),
  inputs: z
    .array(
      z.object({
        key: z.string().refine(isSafeKey, 'a storage key of safe segments (no "..", no leading "/")'),
        name: z.string(),
        chargedSeconds: z.number().positive().optional(),
      }),
    )
    .min(1),
  options: z
    .object({
      language: z.string().refine(isWhisperLanguage, 'unknown language code').optional(),
      translate: z.boolean().optional(),
    })
    .default({}),
});

/** Orders one Batch job may carry: what fits Batch's container overrides anyway. */
export const MAX_GROUPED_JOBS = 100;

/** Parses and checks a job manifest (JSON text); throws one readable line naming what is wrong. */
export function parseManifest(text: string): JobManifest {
  return checkManifest(parseJson(text));
}

/**
 * Parses one manifest or a JSON array of them (the jobs of several orders grouped into one Batch job), each
 * checked as `parseManifest` does, their job ids distinct.
 */
export function parseManifests(text: string): JobManifest[] {
  const json = parseJson(text);
  if (!Array.isArray(json)) return [checkManifest(json)];
  if (json.length === 0 || json.length > MAX_GROUPED_JOBS)
    throw new Error(`job manifest: a group holds 1 to ${MAX_GROUPED_JOBS} jobs, got ${json.length}`);
  const manifests = json.map((item) => checkManifest(item));
  if (new Set(manifests.map((m) => m.jobId)).size !== manifests.length)
    throw new Error('job manifest: a job id appears twice in the group');
  return manifests;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error('job manifest is not valid JSON');
  }
}

function checkManifest(json: unknown): JobManifest {
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`job manifest: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}
