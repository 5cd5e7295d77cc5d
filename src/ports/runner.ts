/** What the worker is asked to do: one job per order, every file of it, so the model loads once. */
export interface JobManifest {
  version: 1;
  /** The order id (`<id>-retryN` after an operator's retry); submitting the same jobId twice must not start a second job. */
  jobId: string;
  /**
   * Each input's blob key, the user's file name (written into the result's `file`) and the seconds charged for it:
   * the worker transcribes no further and marks the result `cutAt` when the audio goes on.
   */
  inputs: { key: string; name: string; chargedSeconds?: number }[];
  options: {
    /** ISO 639-1 code, or `auto` to detect (multilingual models only). */
    language?: string;
    /** Translate to English instead of transcribing. */
    translate?: boolean;
  };
}

/**
 * The runner could not be asked at all (its API down, throttled, unreachable): no verdict on the job. The order
 * waits for the runner to come back, however long that takes, instead of using up its tries and being refunded.
 */
export class RunnerUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RunnerUnavailableError';
  }
}

/** What became of one order's submission: the runner's job id, or why it was refused. */
export type SubmitOutcome = { runnerJobId: string } | { error: unknown };

export type JobState = 'pending' | 'running' | 'succeeded' | 'failed' | 'unknown';

export interface JobStatus {
  state: JobState;
  /** Why it failed, for logs; never shown to users verbatim. */
  reason?: string;
  /**
   * With `unknown`: the job was this runner's before the service restarted (a local job dies with the process).
   * Losing it says nothing about the order, so the run again costs none of the order's tries.
   */
  lostInRestart?: boolean;
}

/** Runs worker jobs: local child processes by default, AWS Batch GPU jobs when configured. */
export interface Runner {
  /** How often the tracker should ask about running jobs: cheap locally, an API call per job on Batch. */
  readonly pollIntervalMs?: number;
  /** Starts the job (idempotent by `manifest.jobId`); resolves with the runner's job id. */
  submit(manifest: JobManifest): Promise<string>;
  /** `unknown` means the runner has no record of it (a local job lost in a restart): resubmit. */
  status(runnerJobId: string): Promise<JobStatus>;
  /**
   * The status of many jobs in as few calls as the runner can (Batch: one DescribeJobs per 100 jobs). A job left
   * out of the answer was not asked about this time (its runner's own poll interval has not passed): the tracker
   * looks again at its next pass. Rejects when the runner cannot be asked.
   */
  statusMany?(runnerJobIds: string[]): Promise<Map<string, JobStatus>>;
  /**
   * Starts the jobs of several orders at once; a runner may run them as fewer jobs (one Batch job for many
   * orders). One outcome per manifest, in order. `since` is the oldest of these orders' queue times: no job
   * holding one of them is older, which bounds the search for jobs a killed service had already started.
   */
  submitMany?(manifests: JobManifest[], since: number): Promise<SubmitOutcome[]>;
  /**
   * Which of these queued orders to hold back for now, so that orders queued soon after can share their job
   * (a Batch job pays for a GPU start). The dispatcher submits the rest and asks again on its next pass.
   */
  hold?(queued: { manifest: JobManifest; queuedAt: number }[], now: number): boolean[];
  /** Gets ready before the first job (the local runner loads its engines), so the first order does not wait for it. */
  start?(): Promise<void>;
  /** Calls `listener` whenever a job ends, so the tracker looks at once instead of at its next poll. */
  onSettled?(listener: () => void): void;
  /** Stops taking jobs; running local jobs are left to finish or die with the process. */
  close(): Promise<void>;
}

/** The result blob of an input: written beside it. */
export const resultKey = (inputKey: string): string => `${inputKey}_result.json`;

/**
 * Submits every manifest, grouped when the runner can group them, one at a time otherwise: one outcome per
 * manifest, so one refused order does not hold up the others.
 */
export async function submitEach(runner: Runner, manifests: JobManifest[], since: number): Promise<SubmitOutcome[]> {
  if (runner.submitMany) return runner.submitMany(manifests, since);
  const outcomes: SubmitOutcome[] = [];
  for (const manifest of manifests) {
    try {
      outcomes.push({ runnerJobId: await runner.submit(manifest) });
    } catch (error) {
      outcomes.push({ error });
    }
  }
  return outcomes;
}
