import { startApp } from "./app.js";
import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./observability/logger.js";

let config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(78);
}

const logger = createLogger(config.LOG_LEVEL);
/**
 * EX_TEMPFAIL: the last resort of a replica whose lease was lost and whose leader work did not stop
 * within a lease duration (a normal step-down keeps the process serving as a follower).
 */
const LEADERSHIP_LOST_EXIT = 75;
try {
  const app = await startApp(config, logger);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(130);
    }
    logger.info({ signal }, "signal received");
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  void app.leadershipLost.then((reason) => {
    logger.error({ reason }, "leadership lost and its work did not stop: exiting so that this replica restarts as a follower");
    setTimeout(() => process.exit(LEADERSHIP_LOST_EXIT), 3000).unref();
    app.stop().finally(() => process.exit(LEADERSHIP_LOST_EXIT));
  });
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
} catch (error) {
  logger.fatal({ err: error }, "start-up failed");
  process.exit(1);
}
