/**
 * Ends a command-line program with `main`'s exit code. The code is set, not forced with `process.exit`, so
 * stdout drains first (a runner reads every progress line). A failure outside main's own handling is one line
 * on stderr, `prefix: message`, and exit 1, not an unhandled rejection with its stack.
 */
export function exitWith(main: Promise<number>, prefix: string): void {
  main.then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${prefix}: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
