import { pino, type Logger } from 'pino';
import { logLevel, type LogEntry, type logCreator } from 'kafkajs';

export type { Logger };

/** A logger that writes nothing: the default when a caller passes none. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** Routes KafkaJS's own log lines into the caller's pino logger. */
export function kafkaLogCreator(logger: Logger): logCreator {
  return () => ({ level, log }: LogEntry) => {
    const { message, ...extra } = log;
    const fields = { kafka: log.logger ?? 'kafkajs', ...extra };
    switch (level) {
      case logLevel.ERROR:
        logger.error(fields, message);
        break;
      case logLevel.WARN:
        logger.warn(fields, message);
        break;
      case logLevel.INFO:
        logger.debug(fields, message);
        break;
      default:
        logger.trace(fields, message);
    }
  };
}
