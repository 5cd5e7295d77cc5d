import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';

const SETPRIV = '/usr/bin/setpriv';
const canTie = process.platform === 'linux' && existsSync(SETPRIV);

/**
 * Spawns a child that the kernel kills when this process dies, however it dies (SIGKILL included),
 * via util-linux's `setpriv --pdeathsig`. Without it a killed service leaves its worker, and a killed
 * worker its whisper-server and ffmpeg, running on with nobody to read their output. Elsewhere it is
 * a plain spawn.
 */
export function spawnTied(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  if (!canTie) return spawn(command, args, options);
  return spawn(SETPRIV, ['--pdeathsig', 'SIGKILL', '--', command, ...args], options);
}
