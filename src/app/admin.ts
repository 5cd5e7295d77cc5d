/**
 * `npm run admin -- COMMAND ...`: the operator's command (`src/admin/cli.ts`). Reads `.env` like the
 * service, prints the answer, and exits 0 when done, 1 when refused or not found, 2 for bad arguments.
 */
import 'dotenv/config';
import { runAdmin } from '../admin/cli';
import { adminTools } from './admin-tools';

const outcome = await runAdmin(process.argv.slice(2), process.env, adminTools);
process.stdout.write(outcome.stdout);
process.stderr.write(outcome.stderr);
// Writes to pipes and files are synchronous on Linux, so exiting now loses nothing; an SDK's idle sockets do not hold it open.
process.exit(outcome.code);
