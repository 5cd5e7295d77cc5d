/** A refusal or an unknown id: one line for the operator, exit code 1. */
export class AdminError extends Error {
  readonly exitCode: number = 1;
  constructor(message: string) {
    super(message);
    this.name = 'AdminError';
  }
}

/** Bad arguments: one line and the usage, exit code 2. */
export class UsageError extends AdminError {
  override readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
