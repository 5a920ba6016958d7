import net from 'node:net';
import tls from 'node:tls';
import type { ISocketFactory } from 'kafkajs';

/** KafkaJS's own keep-alive delay. */
const KEEP_ALIVE_DELAY_MS = 60_000;

/**
 * KafkaJS's socket factory with Nagle's algorithm off (KafkaJS leaves it on; the broker turns it
 * off on its side). A request written while an earlier one on the same connection is still
 * unacknowledged is otherwise held back until that acknowledgement arrives.
 */
export const noDelaySocketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
    : net.connect({ host, port, noDelay: true }, onConnect);
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS);
  return socket;
};
