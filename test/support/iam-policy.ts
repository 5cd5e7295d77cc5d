/**
 * IAM's evaluation of one identity or session policy, for the parts the service's policies use: Allow and
 * Deny statements, `Action`, `Resource` and `NotResource`, with `*` and `?` wildcards (which cross `/`, as in
 * IAM). An explicit Deny wins; without an Allow the request is denied. Conditions are not supported: a
 * statement carrying one makes `allows` throw, so a test cannot pass by ignoring it.
 */
interface Statement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: unknown;
}

/** A policy document, as IAM and STS take it. */
export interface PolicyDocument {
  Statement: Statement | Statement[];
}

/** Whether `policy` (JSON text or parsed) allows `action` (e.g. `s3:GetObject`) on `resource` (an ARN). */
export function allows(policy: string | PolicyDocument, action: string, resource: string): boolean {
  const document = typeof policy === 'string' ? (JSON.parse(policy) as PolicyDocument) : policy;
  const statements = list(document.Statement);
  const applies = (s: Statement) => {
    if (s.Condition !== undefined) throw new Error('conditions are not evaluated here');
    if (s.NotAction !== undefined) throw new Error('NotAction is not evaluated here');
    const actionMatches = list(s.Action).some((pattern) => wildcard(pattern, action, true));
    const resourceMatches =
      s.NotResource !== undefined
        ? !list(s.NotResource).some((pattern) => wildcard(pattern, resource))
        : list(s.Resource).some((pattern) => wildcard(pattern, resource));
    return actionMatches && resourceMatches;
  };
  if (statements.some((s) => s.Effect === 'Deny' && applies(s))) return false;
  return statements.some((s) => s.Effect === 'Allow' && applies(s));
}

function list<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** IAM's wildcard match: `*` any run of characters, `?` one; actions are case-insensitive. */
function wildcard(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '').test(value);
}
