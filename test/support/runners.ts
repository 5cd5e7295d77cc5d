import type { JobManifest, JobStatus, Runner } from '../../src/ports/runner';

/**
 * A runner whose jobs stay where the test puts them, for tests about money and state rather than
 * speech (200 concurrent orders, failures): the real worker is exercised by the end-to-end tests.
 */
export class ScriptedRunner implements Runner {
  readonly submitted: JobManifest[] = [];
  private readonly states = new Map<string, JobStatus>();

  constructor(private readonly outcome: JobStatus['state'] = 'pending') {}

  async submit(manifest: JobManifest): Promise<string> {
    this.submitted.push(manifest);
    const id = `scripted-${manifest.jobId}-${this.submitted.length}`;
    this.states.set(id, { state: this.outcome, reason: this.outcome === 'failed' ? 'scripted failure' : undefined });
    return id;
  }

  async status(id: string): Promise<JobStatus> {
    return this.states.get(id) ?? { state: 'unknown' };
  }

  async close(): Promise<void> {}
}
