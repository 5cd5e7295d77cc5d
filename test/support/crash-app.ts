/**
 * The service as `npm start` runs it, but with the spool channel, for the crash tests: they start
 * this as a real process, let `CRASH_AT` kill it with SIGKILL at a chosen point, and start it again.
 */
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/log';
import { Service } from '../../src/app/service';
import { SpoolChannel } from './spool-channel';

const config = loadConfig();
const log = createLogger(config.logLevel);
const service = new Service(config, { channels: [new SpoolChannel(process.env.SPOOL_DIR!)] }, log);
await service.start();
process.on('SIGTERM', () => {
  service.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
