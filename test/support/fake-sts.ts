import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One AssumeRole call as STS received it (form fields of the Query protocol). */
export interface AssumeRoleCall {
  roleArn: string;
  roleSessionName: string;
  /** The inline session policy's JSON text, when one was sent. */
  policy?: string;
  durationSeconds?: number;
  /** What was handed out; absent when the call was refused. */
  issued?: { accessKeyId: string; secretAccessKey: string; sessionToken: string; expiration: Date };
}

export interface FakeStsOptions {
  /**
   * The key pair every session gets (each call gets its own session token). Tests hand out the S3 server's account,
   * so that a worker using the session reaches the bucket.
   */
  accessKeyId: string;
  secretAccessKey: string;
  /** The role's MaxSessionDuration (default 43200); longer requests are refused, as STS refuses them. */
  maxSessionSeconds?: number;
  /** The caller's own credentials are a role's: sessions over one hour are refused (role chaining). */
  roleChaining?: boolean;
}

/** STS's limit on an inline session policy's plain text. */
export const STS_POLICY_MAX_CHARS = 2048;

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

/**
 * A local AWS STS endpoint speaking the Query protocol the SDK uses: `POST /` with a form-encoded body
 * (`Action=AssumeRole&Version=2011-06-15&RoleArn=...`), answered in XML (`AssumeRoleResponse`, or
 * `ErrorResponse` with STS's own codes and messages). It insists on a SigV4 Authorization header for the
 * `sts` service but accepts any credentials.
 */
export class FakeSts {
  /** Every AssumeRole call, refused ones included, in order. */
  readonly calls: AssumeRoleCall[] = [];
  private server?: Server;
  private refusing?: { status: number; code: string; message: string };

  constructor(readonly options: FakeStsOptions) {}

  /** Listens on a free loopback port; resolves with the endpoint URL. */
  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((done) => this.server!.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((done) => (this.server ? this.server.close(() => done()) : done()));
    this.server?.closeAllConnections();
  }

  /** Refuses every call with this error until called with `undefined` (an outage: 503 ServiceUnavailable, ...). */
  refuse(error: { status: number; code: string; message: string } | undefined): void {
    this.refusing = error;
  }

  /** Every credential value handed out so far: what must never reach a log. */
  issuedSecrets(): string[] {
    return this.calls.flatMap((c) => (c.issued ? [c.issued.secretAccessKey, c.issued.sessionToken] : []));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const fail = (status: number, code: string, message: string) => {
      res.writeHead(status, { 'content-type': 'text/xml' });
      res.end(
        `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${xml(message)}</Message></Error>` +
          `<RequestId>${requestId()}</RequestId></ErrorResponse>`,
      );
    };
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('AWS4-HMAC-SHA256 Credential=') || !auth.includes('/sts/aws4_request') || !req.headers['x-amz-date']) {
      return fail(403, 'IncompleteSignature', 'Missing or malformed SigV4 signature');
    }
    if (req.method !== 'POST' || !String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      return fail(400, 'InvalidAction', 'POST a form-encoded body');
    }
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    if (form.get('Action') !== 'AssumeRole' || form.get('Version') !== '2011-06-15') {
      return fail(400, 'InvalidAction', `Could not find operation ${form.get('Action')} for version ${form.get('Version')}`);
    }
    const duration = form.has('DurationSeconds') ? Number(form.get('DurationSeconds')) : undefined;
    const call: AssumeRoleCall = {
      roleArn: form.get('RoleArn') ?? '',
      roleSessionName: form.get('RoleSessionName') ?? '',
      policy: form.get('Policy') ?? undefined,
      durationSeconds: duration,
    };
    this.calls.push(call);
    if (this.refusing) return fail(this.refusing.status, this.refusing.code, this.refusing.message);
    if (!/^arn:[\w-]+:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(call.roleArn)) return fail(400, 'ValidationError', 'Invalid RoleArn');
    if (!/^[\w+=,.@-]{2,64}$/.test(call.roleSessionName)) {
      return fail(400, 'ValidationError', "Value at 'roleSessionName' failed to satisfy constraint");
    }
    if (call.policy !== undefined && call.policy.length > STS_POLICY_MAX_CHARS) {
      return fail(
        400,
        'ValidationError',
        `1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to ${STS_POLICY_MAX_CHARS}`,
      );
    }
    if (call.policy !== undefined) {
      try {
        JSON.parse(call.policy);
      } catch {
        return fail(400, 'MalformedPolicyDocument', 'The policy is not valid JSON');
      }
    }
    const seconds = duration ?? 3600;
    if (seconds < 900)
      return fail(400, 'ValidationError', "Value at 'durationSeconds' failed to satisfy constraint: Member must be >= 900");
    if (this.options.roleChaining && seconds > 3600) {
      return fail(
        400,
        'ValidationError',
        'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.',
      );
    }
    if (seconds > (this.options.maxSessionSeconds ?? 43_200)) {
      return fail(400, 'ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    }
    const issued = {
      accessKeyId: this.options.accessKeyId,
      secretAccessKey: this.options.secretAccessKey,
      sessionToken: `FwoGZXIvYXdzE${randomBytes(300).toString('base64')}`,
      expiration: new Date(Math.floor(Date.now() / 1000) * 1000 + seconds * 1000),
    };
    call.issued = issued;
    const [, account, roleName] = /^arn:[\w-]+:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(call.roleArn)!;
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(
      `<AssumeRoleResponse xmlns="${NS}"><AssumeRoleResult>` +
        `<AssumedRoleUser><AssumedRoleId>AROA3XFRBF535PLBIFPI4:${call.roleSessionName}</AssumedRoleId>` +
        `<Arn>arn:aws:sts::${account}:assumed-role/${roleName}/${call.roleSessionName}</Arn></AssumedRoleUser>` +
        `<Credentials><AccessKeyId>${xml(issued.accessKeyId)}</AccessKeyId><SecretAccessKey>${xml(issued.secretAccessKey)}</SecretAccessKey>` +
        `<SessionToken>${xml(issued.sessionToken)}</SessionToken><Expiration>${issued.expiration.toISOString()}</Expiration></Credentials>` +
        `<PackedPolicySize>${call.policy ? Math.ceil((call.policy.length / STS_POLICY_MAX_CHARS) * 100) : 0}</PackedPolicySize>` +
        `</AssumeRoleResult><ResponseMetadata><RequestId>${requestId()}</RequestId></ResponseMetadata></AssumeRoleResponse>`,
    );
  }
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function requestId(): string {
  return randomBytes(16)
    .toString('hex')
    .replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');
}
