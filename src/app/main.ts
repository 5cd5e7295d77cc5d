/**
 * `npm start`: the whole service on one machine with the embedded defaults (SQLite, local storage,
 * local Whisper), or S3 and AWS Batch when configured. Reads `.env` when present.
 */
import 'dotenv/config';
import { ConfigError, loadConfig } from '../config';
import { createLogger } from '../log';
import { channelsFromConfig } from './channels';
import { paymentsFromConfig } from './payments';
import { Service } from './service';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`Configuration error: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  const { stars, ...payments } = await paymentsFromConfig(config, log);
  const channels = await channelsFromConfig(config, log, { stars });
  let service: Service;
  try {
    service = new Service(config, { channels, ...payments }, log);
  } catch (error) {
    // A missing Whisper model or engine, or a runner its storage cannot serve: one line, and no start.
    if (error instanceof ConfigError) {
      console.error(`Cannot start: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
  await service.start();

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: no new messages; running work is left in a state the next start resumes');
    service.stop().then(
      () => process.exit(0),
      (error) => {
        log.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
