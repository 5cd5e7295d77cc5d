import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { Logger } from '../log';

/**
 * Per-job credentials for Batch: every job gets a session of the job role (`BATCH_JOB_ROLE_ARN`) narrowed by an
 * inline session policy to its own orders' folders, so a job taken over by a hostile file can read only its own
 * orders' audio and write only their results, not another customer's.
 */

/** The longest session asked for: the template's `JobScopeRole` allows this (`MaxSessionDuration`). */
export const JOB_CREDENTIAL_MAX_SECONDS = 12 * 3600;

/** What STS grants a session whose caller is itself a role session (role chaining), whatever the role allows. */
const ROLE_CHAINING_MAX_SECONDS = 3600;

/** STS's shortest session. */
const MIN_SESSION_SECONDS = 900;

/** A job may wait this long in the queue for a GPU instance before its first attempt starts. */
const QUEUE_ALLOWANCE_SECONDS = 3600;

/** STS refuses an inline session policy longer than this (plain text). */
export const SESSION_POLICY_MAX_CHARS = 2048;

/**
 * Room kept in the container overrides for the credential variables (the session token grows with the packed
 * policy; STS promises no size, so this is generous).
 */
export const CREDENTIALS_OVERRIDE_BYTES = 2560;

/** An order's folder, `orders/<order id>/`: the only shape a session is scoped to. No wildcard can hide in it. */
const ORDER_FOLDER = /^orders\/[A-Za-z0-9_-]+\/$/;

export interface JobCredentialsOptions {
  /** The role each job's session is taken from (`BATCH_JOB_ROLE_ARN`); its partition names the bucket's ARNs. */
  roleArn: string;
  bucket: string;
  region: string;
  /** An STS-compatible endpoint (tests); AWS's regional one when absent. */
  endpoint?: string;
  log: Logger;
  /** A ready client (tests); built from the options and the SDK's default credential chain otherwise. */
  client?: STSClient;
}

/** The variables a job's worker finds its session in: the AWS SDK's default chain reads them before the container's role. */
export interface JobCredentialEnv {
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
  AWS_SESSION_TOKEN: string;
  AWS_CREDENTIAL_EXPIRATION: string;
}

/** Takes one session of the job role per Batch job, scoped to the job's orders. */
export class JobCredentials {
  readonly client: STSClient;
  /** Lowered to one hour, for good, when STS says this service's own credentials are a role's (role chaining). */
  private maxSeconds = JOB_CREDENTIAL_MAX_SECONDS;
  private warnedShort = false;

  constructor(private readonly options: JobCredentialsOptions) {
    this.client = options.client ?? new STSClient({ region: options.region, endpoint: options.endpoint });
  }

  /** Whether one session can cover all these input keys (STS caps the session policy's length). */
  fits(inputKeys: string[]): boolean {
    return jobSessionPolicy(this.options, inputKeys).length <= SESSION_POLICY_MAX_CHARS;
  }

  /**
   * A session for the job `jobName` reading `inputKeys` and writing their results, meant to last `wantSeconds`
   * (capped at what the role allows). Resolves with the worker's credential variables; never log them.
   */
  async forJob(jobName: string, inputKeys: string[], wantSeconds: number): Promise<JobCredentialEnv> {
    const policy = jobSessionPolicy(this.options, inputKeys);
    const seconds = Math.max(MIN_SESSION_SECONDS, Math.min(wantSeconds, this.maxSeconds));
    let response;
    try {
      response = await this.assume(jobName, policy, seconds);
    } catch (error) {
      if (!isDurationRefused(error) || seconds <= ROLE_CHAINING_MAX_SECONDS) throw error;
      // The service's own credentials are a role session (an instance profile, say): STS caps chained sessions at one hour.
      this.maxSeconds = ROLE_CHAINING_MAX_SECONDS;
      this.options.log.warn(
        { askedSeconds: seconds, grantedSeconds: ROLE_CHAINING_MAX_SECONDS, reason: (error as Error).message },
        'STS refused a Batch job session that long: job credentials now last one hour (the service runs on a role, or the job role allows no more)',
      );
      response = await this.assume(jobName, policy, ROLE_CHAINING_MAX_SECONDS);
    }
    const credentials = response.Credentials;
    if (!credentials?.AccessKeyId || !credentials.SecretAccessKey || !credentials.SessionToken || !credentials.Expiration) {
      throw new Error(`STS returned no credentials for ${jobName}`);
    }
    const grantedSeconds = Math.min(seconds, this.maxSeconds);
    if (grantedSeconds < wantSeconds && !this.warnedShort) {
      this.warnedShort = true;
      this.options.log.warn(
        { grantedSeconds, neededSeconds: wantSeconds },
        'Batch job credentials expire before a job may end: a job still running then cannot write its results, so it fails, is retried once with new credentials, then refunded',
      );
    }
    return {
      AWS_ACCESS_KEY_ID: credentials.AccessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.SecretAccessKey,
      AWS_SESSION_TOKEN: credentials.SessionToken,
      AWS_CREDENTIAL_EXPIRATION: credentials.Expiration.toISOString(),
    };
  }

  close(): void {
    this.client.destroy();
  }

  private assume(jobName: string, policy: string, seconds: number) {
    // The session name shows in CloudTrail beside every S3 call the job makes.
    return this.client.send(
      new AssumeRoleCommand({
        RoleArn: this.options.roleArn,
        RoleSessionName: jobName.slice(0, 64),
        Policy: policy,
        DurationSeconds: seconds,
      }),
    );
  }
}

/**
 * How long a job's credentials should last: every attempt Batch may make (Spot reclaims start the job again with
 * the same environment) at its full time limit, after a wait in the queue.
 */
export function jobCredentialSeconds(attemptSeconds: number, attempts: number): number {
  return attemptSeconds * attempts + QUEUE_ALLOWANCE_SECONDS;
}

/**
 * The inline session policy for a job: read and write inside each order folder its inputs are in, and write
 * nothing but `_result.json` files. A session's rights are those of the role and of this policy together, so
 * the role's own limits hold as well. Each folder is named once (one ARN) so that a group of orders fits STS's
 * 2048 characters. Throws for a key outside an order folder: a wider session is never asked for.
 */
export function jobSessionPolicy(target: { roleArn: string; bucket: string }, inputKeys: string[]): string {
  const partition = target.roleArn.split(':')[1] || 'aws';
  const objects = `arn:${partition}:s3:::${target.bucket}`;
  const folders = [...new Set(inputKeys.map((key) => key.slice(0, key.lastIndexOf('/') + 1)))];
  const bad = folders.find((folder) => !ORDER_FOLDER.test(folder));
  if (bad !== undefined || folders.length === 0)
    throw new Error(`cannot scope a Batch job to input keys outside orders/<id>/ (${bad ?? 'none'})`);
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'OwnOrders', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: folders.map((f) => `${objects}/${f}*`) },
      { Sid: 'ResultsOnly', Effect: 'Deny', Action: 's3:PutObject', NotResource: `${objects}/orders/*_result.json` },
    ],
  });
}

/** STS's answer when the requested DurationSeconds is over the role's maximum or the role-chaining hour. */
function isDurationRefused(error: unknown): boolean {
  const e = error as { name?: string; message?: string };
  return e?.name === 'ValidationError' && /DurationSeconds/i.test(e.message ?? '');
}
