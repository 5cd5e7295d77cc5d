import { submitEach, type JobManifest, type JobStatus, type Runner, type SubmitOutcome } from '../ports/runner';

const LOCAL = 'local:';

/**
 * Sends short orders to a local runner and the rest to a remote one (AWS Batch): an order whose files are all
 * at most `maxLocalSeconds` long (the seconds charged for them: their decoded length, rounded up) runs on this machine's warm worker, so a voice note
 * never waits minutes for a GPU instance to start. Whole orders are routed, never single files: an order is
 * answered in one reply, which waits for its longest file anyway. Local job ids carry a prefix, so `status`
 * knows which runner to ask, after a restart too.
 */
export class RoutedRunner implements Runner {
  constructor(
    private readonly local: Runner,
    private readonly remote: Runner,
    private readonly maxLocalSeconds: number,
  ) {}

  /** When the remote runner's jobs may be asked about again. */
  private remoteDueAt = 0;

  /** Local jobs are cheap to ask about and end in seconds; the remote runner rate-limits its own calls. */
  get pollIntervalMs(): number | undefined {
    return this.local.pollIntervalMs;
  }

  /** True when every file of the order is known to be short enough for the local worker. */
  isLocal(manifest: JobManifest): boolean {
    return manifest.inputs.every((input) => input.chargedSeconds !== undefined && input.chargedSeconds <= this.maxLocalSeconds);
  }

  /** Local orders go at once; the remote runner decides for the others. */
  hold(queued: { manifest: JobManifest; queuedAt: number }[], now: number): boolean[] {
    const remote = queued.filter((q) => !this.isLocal(q.manifest));
    const held = this.remote.hold?.(remote, now) ?? [];
    return queued.map((q) => !this.isLocal(q.manifest) && (held[remote.indexOf(q)] ?? false));
  }

  async submit(manifest: JobManifest): Promise<string> {
    return this.isLocal(manifest) ? LOCAL + (await this.local.submit(manifest)) : this.remote.submit(manifest);
  }

  async submitMany(manifests: JobManifest[], since: number): Promise<SubmitOutcome[]> {
    const local = manifests.filter((m) => this.isLocal(m));
    const remote = manifests.filter((m) => !this.isLocal(m));
    const [localOutcomes, remoteOutcomes] = await Promise.all([
      local.length ? submitEach(this.local, local, since) : [],
      remote.length ? submitEach(this.remote, remote, since) : [],
    ]);
    return manifests.map((manifest) => {
      if (!this.isLocal(manifest)) return remoteOutcomes[remote.indexOf(manifest)]!;
      const outcome = localOutcomes[local.indexOf(manifest)]!;
      return 'runnerJobId' in outcome ? { runnerJobId: LOCAL + outcome.runnerJobId } : outcome;
    });
  }

  /**
   * Local jobs every time; remote ones at most once per the remote runner's own poll interval, all in one call
   * (`statusMany`), however often the tracker passes for the local jobs. Remote jobs left out are asked next time.
   */
  async statusMany(runnerJobIds: string[]): Promise<Map<string, JobStatus>> {
    const statuses = new Map<string, JobStatus>();
    const local = runnerJobIds.filter((id) => id.startsWith(LOCAL));
    for (const id of local) statuses.set(id, await this.local.status(id.slice(LOCAL.length)));
    const remote = runnerJobIds.filter((id) => !id.startsWith(LOCAL));
    if (remote.length === 0 || Date.now() < this.remoteDueAt) return statuses;
    this.remoteDueAt = Date.now() + (this.remote.pollIntervalMs ?? 0);
    const answers = this.remote.statusMany
      ? await this.remote.statusMany(remote)
      : new Map(await Promise.all(remote.map(async (id) => [id, await this.remote.status(id)] as const)));
    for (const [id, status] of answers) statuses.set(id, status);
    return statuses;
  }

  async status(runnerJobId: string): Promise<JobStatus> {
    return runnerJobId.startsWith(LOCAL) ? this.local.status(runnerJobId.slice(LOCAL.length)) : this.remote.status(runnerJobId);
  }

  async start(): Promise<void> {
    await Promise.all([this.local.start?.(), this.remote.start?.()]);
  }

  onSettled(listener: () => void): void {
    this.local.onSettled?.(listener);
    this.remote.onSettled?.(listener);
  }

  async close(): Promise<void> {
    await Promise.all([this.local.close(), this.remote.close()]);
  }
}
