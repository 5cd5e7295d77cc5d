/** What the worker is asked to do: one job per order, every file of it, so the model loads once. */
export interface JobManifest {
  version: 1;
  /** The order id; submitting the same jobId twice must not start a second job. */
  jobId: string;
  /** Each input's blob key and the user's file name (written into the result's `file`). */
  inputs: { key: string; name: string }[];
  options: {
    /** ISO 639-1 code, or `auto` to detect (multilingual models only). */
    language?: string;
    /** Translate to English instead of transcribing. */
    translate?: boolean;
  };
}

export type JobState = 'pending' | 'running' | 'succeeded' | 'failed' | 'unknown';

export interface JobStatus {
  state: JobState;
  /** Why it failed, for logs; never shown to users verbatim. */
  reason?: string;
}

/** Runs worker jobs: local child processes by default, AWS Batch GPU jobs when configured. */
export interface Runner {
  /** How often the tracker should ask about running jobs: cheap locally, an API call per job on Batch. */
  readonly pollIntervalMs?: number;
  /** Starts the job (idempotent by `manifest.jobId`); resolves with the runner's job id. */
  submit(manifest: JobManifest): Promise<string>;
  /** `unknown` means the runner has no record of it (a local job lost in a restart): resubmit. */
  status(runnerJobId: string): Promise<JobStatus>;
  /** Gets ready before the first job (the local runner loads its engines), so the first order does not wait for it. */
  start?(): Promise<void>;
  /** Calls `listener` whenever a job ends, so the tracker looks at once instead of at its next poll. */
  onSettled?(listener: () => void): void;
  /** Stops taking jobs; running local jobs are left to finish or die with the process. */
  close(): Promise<void>;
}

/** The result blob of an input: written beside it. */
export const resultKey = (inputKey: string): string => `${inputKey}_result.json`;
